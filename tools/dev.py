#!/usr/bin/env python3
"""One-command set-up and the two jobs of README's Quick start.

    python3.11 tools/dev.py demo   # make .venv if missing, install everything, generate out/demo.blend
    python3.11 tools/dev.py test   # make .venv if missing, install everything, type-check, run the tests, then gui
    python3.11 tools/dev.py gui    # the add-on in a real Blender 4.3 GUI under Xvfb (tools/gui; needs root)

Installation is skipped when .venv already holds what pyproject.toml asks for (a stamp of its hash).
``test`` also makes one venv per other supported Blender (see ``BLENDER_VENVS``) for
tests/test_blender_versions.py; one that cannot be made is left out and its test is skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

from gui import runner as gui_runner  # tools/gui, beside this file

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".intermask-installed"


@dataclass(frozen=True)
class BlenderVenv:
    """A supported Blender besides the dev env's bpy 5.0: bpy wheels exist only for the Python that
    release bundles, and numpy must be the major version that Blender ships (1.x with 3.11, 2.x with 3.13;
    numpy 1.26 has no cp313 wheel)."""

    version: str
    folder: Path
    python: str
    numpy: str

    @property
    def interpreter(self) -> Path:
        return self.folder / "bin" / "python"


BLENDER_VENVS = (
    BlenderVenv("4.2", ROOT / ".venv-bpy42", "3.11", "numpy<2"),
    BlenderVenv("4.5", ROOT / ".venv-bpy45", "3.11", "numpy<2"),
    BlenderVenv("5.2", ROOT / ".venv-bpy52", "3.13", "numpy>=2"),
)


def run(*cmd: str | Path, check: bool = True) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check).returncode


def pip(*args: str, check: bool = True) -> int:
    return run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check", *args, check=check)


def install_torch() -> None:
    """Prefer a CPU build of torch: a local wheel if pip can see one, else PyTorch's CPU index, else PyPI."""
    if subprocess.run([str(PYTHON), "-c", "import torch"], capture_output=True, check=False).returncode == 0:
        return
    if pip("--no-index", "--no-deps", "torch", check=False) == 0:
        return
    if pip("torch", "--index-url", "https://download.pytorch.org/whl/cpu",
           "--extra-index-url", "https://pypi.org/simple", check=False) == 0:
        return
    pip("torch")


def ensure_environment() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"InterMask needs Python 3.11 (bpy 5.0 is built for it); this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text() == wanted:
        return
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    install_torch()
    pip("-e", ".[dev]")
    STAMP.write_text(wanted)


def _python_version(python: Path) -> str | None:
    """``major.minor`` of an interpreter that really runs (pyenv's shims exit with an error instead)."""
    try:
        done = subprocess.run([str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def find_python(version: str) -> Path | None:
    """An interpreter for ``version`` ("3.13"): this one, the newest of pyenv's installed versions (found
    in its versions folder, so no shim has to select it), or a ``pythonX.Y`` on PATH that really runs."""
    if _python_version(Path(sys.executable)) == version:
        return Path(sys.executable)
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    installed = sorted(pyenv.glob(f"{version}.*/bin/python{version}"),
                       key=lambda path: [int(n) for n in re.findall(r"\d+", path.parts[-3])])
    on_path = shutil.which(f"python{version}")
    for candidate in [*reversed(installed), *([Path(on_path)] if on_path else [])]:
        if _python_version(candidate) == version:
            return candidate
    return None


def ensure_blender_venvs() -> None:
    """Make each missing venv of ``BLENDER_VENVS``; one that cannot be made is removed again."""
    for blender in BLENDER_VENVS:
        if blender.interpreter.exists():
            continue
        base = find_python(blender.python)
        if base is None:
            print(f"no Python {blender.python} for bpy {blender.version}; its test will be skipped", flush=True)
            continue
        made = run(base, "-m", "venv", blender.folder, check=False) == 0 and run(
            blender.interpreter, "-m", "pip", "install", "--disable-pip-version-check",
            f"bpy=={blender.version}.*", blender.numpy, check=False) == 0
        if not made:
            print(f"bpy {blender.version} could not be installed; its test will be skipped", flush=True)
            shutil.rmtree(blender.folder, ignore_errors=True)


def main() -> int:
    job = sys.argv[1] if len(sys.argv) > 1 else ""
    if job not in ("demo", "test", "setup", "gui"):
        print(__doc__)
        return 2
    ensure_environment()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if job == "setup":
        return 0
    if job == "demo":
        return run(PYTHON, "-m", "intermask_blender.commands.demo", check=False)
    if job == "gui":
        return gui_runner.main(ROOT, PYTHON)
    ensure_blender_venvs()
    typed = run(PYTHON, "-m", "mypy", "intermask_blender", check=False)
    tests = run(PYTHON, "-m", "pytest", "tests", *sys.argv[2:], check=False)
    print("+ the GUI run (tools/dev.py gui)", flush=True)
    gui = gui_runner.main(ROOT, PYTHON)
    return typed or tests or gui


if __name__ == "__main__":
    sys.exit(main())
