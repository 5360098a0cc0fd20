"""A Blender whose Python lacks numpy (Debian's package does not depend on it): enabling the add-on says
that numpy is missing and how to get it, in a source checkout and in the extension's bundled layout, instead
of the ``No module named 'vendor_models'`` that the fallback import used to report."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Runs in a fresh bpy process with $HIDE's top-level packages made unimportable before anything can load them.
_ENABLE = textwrap.dedent(r"""
    import os, sys

    HIDDEN = os.environ["HIDE"].split(",")

    class Hide:
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in HIDDEN:
                raise ModuleNotFoundError(f"No module named {top!r}", name=top)

    sys.meta_path.insert(0, Hide())
    import bpy, addon_utils
    addon_utils.enable("intermask_blender", default_set=False)
    print("ENABLED", "intermask_blender" in bpy.context.preferences.addons, flush=True)
    try:
        import intermask_blender.seam
    except ImportError as exc:
        print("SEAM", type(exc).__name__, exc.name, flush=True)
""")


def _bundled_copy(root: Path) -> Path:
    """The add-on laid out as build.py zips it: vendor_models' motion package inside the add-on folder."""
    addon = root / "intermask_blender"
    shutil.copytree(REPO / "intermask_blender", addon, ignore=shutil.ignore_patterns("__pycache__"))
    (addon / "vendor_models").mkdir()
    shutil.copy(REPO / "vendor_models" / "__init__.py", addon / "vendor_models" / "__init__.py")
    shutil.copytree(REPO / "vendor_models" / "motion", addon / "vendor_models" / "motion",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.mark.parametrize("layout", ["source", "bundled"])
def test_enabling_without_numpy_names_numpy_and_the_fix(layout: str, tmp_path: Path) -> None:
    path = REPO if layout == "source" else _bundled_copy(tmp_path)
    # a user's Blender has no top-level vendor_models (this venv has the project installed)
    hidden = "numpy" if layout == "source" else "numpy,vendor_models"
    done = subprocess.run([sys.executable, "-c", _ENABLE], check=False, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={"PYTHONPATH": str(path), "PATH": "/usr/bin:/bin",
                                             "HOME": str(tmp_path), "HIDE": hidden})
    output = done.stdout + done.stderr
    assert "ENABLED False" in done.stdout, output
    assert "needs numpy in Blender's own Python" in output and "apt install python3-numpy" in output, output
    assert "No module named 'vendor_models'" not in output, output
    assert "SEAM ModuleNotFoundError numpy" in done.stdout, output
