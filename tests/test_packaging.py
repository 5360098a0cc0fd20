"""The built extension zip (``conftest.built_zip``): layout, Blender's own validator, and generating with
the installed extension's own bundled model in a fresh bpy session.

The install uses Blender's extension API through ``blender_extension.py``, with ``BLENDER_USER_RESOURCES``
pointing at a temporary folder so the developer's own Blender configuration is never touched. That the zip
installs, registers and unregisters on every supported Blender is ``test_blender_versions.py``'s job.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import build  # noqa: E402  (the top-level build script)

pytestmark = pytest.mark.timeout(300)


def test_zip_holds_the_addon_with_vendor_models_nested_and_no_caches(built_zip: Path) -> None:
    names = zipfile.ZipFile(built_zip).namelist()
    for needed in ("blender_manifest.toml", "__init__.py", "seam.py", "ui/operators.py", "ui/panel.py",
                   "vendor_models/__init__.py", "vendor_models/motion/protocol.py", "vendor_models/worker/process.py"):
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/")]
    checkpoints = {n.split("/")[2] for n in names if n.startswith("vendor_models/checkpoints/") and n.count("/") > 2}
    assert checkpoints <= {"default"}
    if (REPO / "vendor_models/checkpoints/default").is_dir():
        assert checkpoints == {"default"}, "the shipped default checkpoint must be in the zip"


def test_manifest_matches_the_project() -> None:
    manifest = tomllib.loads((REPO / "blender_manifest.toml").read_text())
    assert manifest["id"] == "intermask_blender"
    assert manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert set(manifest["permissions"]) == {"files", "network"}
    assert build.manifest_version() == manifest["version"]


def test_same_sources_give_the_same_zip(built_zip: Path, tmp_path: Path) -> None:
    again = build.build(tmp_path)
    assert again.read_bytes() == built_zip.read_bytes()


def test_validator_rejects_a_broken_manifest(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("blender_manifest.toml", 'schema_version = "1.0.0"\nid = "intermask_blender"\nversion = "1"\n')
        archive.writestr("__init__.py", "")
    with pytest.raises(build.BuildError, match="version"):
        build.validate(bad)


DEFAULT_CHECKPOINT = REPO / "vendor_models" / "checkpoints" / "default"

_GENERATE = r"""
import json, sys, time
import bpy
import blender_extension
name = blender_extension.install(sys.argv[1], sys.argv[2])
job = sys.modules[name + ".client.job"]
bpy.context.preferences.addons[name].preferences.device = "cpu"
scene = bpy.context.scene
scene.intermask.prompt, scene.intermask.seconds, scene.intermask.own_sampler, scene.intermask.steps = "two people dance salsa", 1.5, True, 4
bpy.ops.intermask.generate()
worker = job._State.client
deadline = time.monotonic() + 200
while job.busy() and time.monotonic() < deadline:
    job.tick()
    time.sleep(job.TICK_INTERVAL)
bpy.ops.intermask.apply()
print("REPORT " + json.dumps({
    "status": scene.intermask.status, "error": scene.intermask.status_is_error,
    "worker_pythonpath": worker.environment()["PYTHONPATH"].split(":")[0],
    "model": worker.ready.model if worker.ready else None,
    "actions": sorted(a.name for a in bpy.data.actions)}))
"""


@pytest.mark.skipif(not (DEFAULT_CHECKPOINT / "transformer.pt").is_file(),
                    reason="the shipped model is not complete in vendor_models/checkpoints/default")
def test_installed_extension_generates_with_its_own_bundled_model(built_zip: Path, tmp_path: Path) -> None:
    """Generate → Apply through the installed zip: the worker runs vendor_models and the checkpoint from
    inside the extension folder, not from the source checkout."""
    env = {"BLENDER_USER_RESOURCES": str(tmp_path / "user"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent)}
    done = subprocess.run([sys.executable, "-c", _GENERATE, str(built_zip), str(tmp_path / "repo")],
                          capture_output=True, text=True, timeout=280, env=env, cwd=tmp_path)
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(lines[-1][len("REPORT "):])
    assert not report["error"] and report["status"].startswith("Applied variation 1"), report
    assert report["worker_pythonpath"] == str(tmp_path / "repo" / "intermask_blender")
    assert len(report["actions"]) == 2
