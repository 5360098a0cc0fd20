"""The add-on's dependency helper (`intermask_blender.client.deps`, stdlib only): which Python the worker runs
on, the install plan, and the background command chain the preferences' buttons use. No Blender needed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from intermask_blender.client import deps

REPO = Path(__file__).resolve().parents[1]


def test_worker_python_resolution_order(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("INTERMASK_PYTHON", raising=False)
    env = tmp_path / "env"
    assert deps.resolve_worker_python("auto", "", env) == Path(sys.executable)  # the dev venv has torch
    python = deps.env_python(env)
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    assert deps.resolve_worker_python("auto", "", env) == Path(sys.executable), "no stamp yet: half-built env"
    (env / deps.STAMP_NAME).write_text("ok")
    assert deps.resolve_worker_python("auto", "", env) == python
    monkeypatch.setenv("INTERMASK_PYTHON", "/nope/python")
    with pytest.raises(deps.WorkerPythonError, match="/nope/python"):
        deps.resolve_worker_python("auto", "", env)
    with pytest.raises(deps.WorkerPythonError, match="fix it in the preferences"):
        deps.resolve_worker_python("custom", "", env)


def test_install_plan_picks_the_torch_channel(tmp_path) -> None:
    cpu = deps.install_commands(tmp_path / "env", "cpu")
    assert cpu[0][1:3] == ["-m", "venv"]
    torch_step = next(c for c in cpu if "torch" in c)
    assert "https://download.pytorch.org/whl/cpu" in torch_step
    assert not any("download.pytorch.org" in part for part in deps.install_commands(tmp_path, "default")[2])
    pyproject = (REPO / "pyproject.toml").read_text()
    for requirement in deps.WORKER_REQUIREMENTS:
        assert f'"{requirement}' in pyproject, f"{requirement} is not a project dependency"


def test_command_chain_runs_in_order_logs_and_stamps_only_on_success(tmp_path) -> None:
    ok = deps.CommandChain([[sys.executable, "-c", "print('one')"], [sys.executable, "-c", "print('two')"]],
                           tmp_path / "ok.log", on_success=[tmp_path / "stamp"]).start()
    bad = deps.CommandChain([[sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
                             [sys.executable, "-c", "print('never')"]], tmp_path / "bad.log",
                            on_success=[tmp_path / "bad-stamp"]).start()
    deadline = time.monotonic() + 60
    while (ok.poll() | bad.poll()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ok.returncode == 0 and ok.step == (2, 2) and (tmp_path / "stamp").is_file()
    assert [line for line in ok.tail() if not line.startswith("$")] == ["one", "two"]
    assert bad.returncode == 3 and not (tmp_path / "bad-stamp").exists() and "never" not in "".join(bad.tail())
