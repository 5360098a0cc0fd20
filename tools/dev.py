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
BPY42 = ROOT / ".venv-bpy42"


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


def ensure_bpy42() -> None:
    """A second venv with bpy 4.2 LTS for the add-on's oldest-Blender smoke test (skipped without it)."""
    python = BPY42 / "bin" / "python"
    if python.exists():
        return
    venv.EnvBuilder(with_pip=True).create(BPY42)
    if run(python, "-m", "pip", "install", "--disable-pip-version-check", "bpy==4.2.*", "numpy<2", check=False) != 0:
        print("bpy 4.2 could not be installed; its smoke test will be skipped", flush=True)
        shutil.rmtree(BPY42, ignore_errors=True)


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
        return run(PYTHON, "-m", "intermask_blender.demo", check=False)
    ensure_bpy42()
    typed = run(PYTHON, "-m", "mypy", "intermask_blender", check=False)
    tests = run(PYTHON, "-m", "pytest", "tests", *sys.argv[2:], check=False)
    return typed or tests


if __name__ == "__main__":
    sys.exit(main())
