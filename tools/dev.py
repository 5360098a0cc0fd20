#!/usr/bin/env python3
"""One-command set-up and the two jobs of README's Quick start.

    python3.11 tools/dev.py demo   # make .venv if missing, install everything, generate out/demo.blend
    python3.11 tools/dev.py test   # make .venv if missing, install everything, type-check and run the tests

Installation is skipped when .venv already holds what pyproject.toml asks for (a stamp of its hash).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".intermask-installed"
#: the LTS releases before bpy 5.0 that tests/test_old_blenders.py checks, each in its own venv
OLD_BLENDERS = {"4.2": ROOT / ".venv-bpy42", "4.5": ROOT / ".venv-bpy45"}


def run(*cmd: str | Path, check: bool = True) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check).returncode


def pip(*args: str, check: bool = True) -> int:
    return run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check", *args, check=check)


def install_torch() -> None:
    """Prefer a CPU build of torch: a local wheel if pip can see one, else PyTorch's CPU index, else PyPI."""
    if subprocess.run([str(PYTHON), "-c", "import torch"], capture_output=True).returncode == 0:
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


def ensure_old_blenders() -> None:
    """A venv per older LTS bpy for the add-on's cross-version test (skipped where one cannot be made)."""
    for version, folder in OLD_BLENDERS.items():
        python = folder / "bin" / "python"
        if python.exists():
            continue
        venv.EnvBuilder(with_pip=True).create(folder)
        wanted = (f"bpy=={version}.*", "numpy<2")
        if run(python, "-m", "pip", "install", "--disable-pip-version-check", *wanted, check=False) != 0:
            print(f"bpy {version} could not be installed; its test will be skipped", flush=True)
            shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    job = sys.argv[1] if len(sys.argv) > 1 else ""
    if job not in ("demo", "test", "setup"):
        print(__doc__)
        return 2
    ensure_environment()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if job == "setup":
        return 0
    if job == "demo":
        return run(PYTHON, "-m", "intermask_blender.commands.demo", check=False)
    ensure_old_blenders()
    typed = run(PYTHON, "-m", "mypy", "intermask_blender", check=False)
    tests = run(PYTHON, "-m", "pytest", "tests", *sys.argv[2:], check=False)
    return typed or tests


if __name__ == "__main__":
    sys.exit(main())
