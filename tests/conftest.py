"""Fixtures shared by test modules: the built extension zip, made once per test session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def built_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``build.py``'s zip, checked by Blender's validator; built once because packaging and every Blender
    version's install test need the very same file."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, str(REPO / "build.py"), "--out-dir", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout
    (archive,) = out.glob("intermask_blender-*.zip")
    return archive
