"""Every supported Blender against the bpy running this suite (5.0): 4.2 LTS (legacy ``Action.fcurves``),
4.5 LTS (slotted actions, before 5.0 removed the legacy API) and 5.2 LTS (Python 3.13, numpy 2), each in
the venv ``tools/dev.py test`` makes for it.

On each, the built zip installs through Blender's extension API, registers and unregisters twice without
importing torch, bakes a real salsa clip and must pose the rig exactly as 5.0 does: our mannequin and the
control rig that release's Rigify generates. Every Blender runs ``blender_version_smoke.py`` once, all
started together, because Rigify's generator takes 15–25 s on each.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vendor_models.data.build import ensure_cache
from vendor_models.motion.clip_file import Clip

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import dev  # noqa: E402  (tools/dev.py: which Blender venvs exist and how they are made)

SMOKE = Path(__file__).with_name("blender_version_smoke.py")
FRAMES = 72
REFERENCE = "reference"  # the bpy of this test run
BLENDERS = {blender.version: blender for blender in dev.BLENDER_VENVS}
ADDON = "bl_ext.imtest.intermask_blender"  # tests/blender_extension.py's repository and the manifest's id

pytestmark = pytest.mark.timeout(300)


def _smoke(python: Path, built_zip: Path, clip_path: Path, home: Path) -> dict[str, Any]:
    """Run the smoke script in a clean environment: no user config, no network, no source checkout on the path."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "BLENDER_USER_RESOURCES": str(home / "user")}
    done = subprocess.run([str(python), str(SMOKE), str(built_zip), str(clip_path), str(home / "repo")],
                          capture_output=True, text=True, timeout=280, env=env, cwd=home)
    line = next((l for l in done.stdout.splitlines() if l.startswith("SMOKE ")), None)
    assert done.returncode == 0 and line, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(line[len("SMOKE "):])


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip = Clip.load(ensure_cache() / "salsa_01.npz")
    path = tmp_path_factory.mktemp("clip") / "salsa.npz"
    Clip(clip.positions[:FRAMES], clip.rotations[:FRAMES], clip.contacts[:FRAMES], clip.fps, clip.meta).save(path)
    return path


@pytest.fixture(scope="module")
def smokes(built_zip: Path, clip_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future]]:
    """A smoke run per Blender that has a venv, plus the reference, all started at once (one per core)."""
    pythons = {REFERENCE: Path(sys.executable)}
    pythons.update({v: b.interpreter for v, b in BLENDERS.items() if b.interpreter.exists()})
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        yield {version: pool.submit(_smoke, python, built_zip, clip_path, tmp_path_factory.mktemp(f"home{version}"))
               for version, python in pythons.items()}


def _numbers(version: str) -> list[int]:
    """"4.5.3" → [4, 5]."""
    return [int(n) for n in version.split(".")[:2]]


def _run(smokes: dict[str, Future], version: str) -> dict[str, Any]:
    """That Blender's report, or a skip that says why it has no venv."""
    if version not in smokes:
        blender = BLENDERS[version]
        if dev.find_python(blender.python) is None:
            pytest.skip(f"bpy {version} needs Python {blender.python}, found neither in pyenv's versions folder "
                        f"nor as a working python{blender.python} on PATH")
        pytest.skip(f"no {blender.folder.name} (tools/dev.py test creates it)")
    return smokes[version].result()


@pytest.mark.parametrize("version", [REFERENCE, *BLENDERS], ids=lambda v: v if v == REFERENCE else f"bpy{v}")
def test_built_zip_installs_registers_and_unregisters_without_torch(version: str, smokes: dict[str, Future]) -> None:
    run = _run(smokes, version)
    on, off = [True] * 4, [False] * 4
    assert [list(state.values()) for state in run["registration"]] == [on, off, on, off, on]
    assert not any(run["unregistered"].values()), run["unregistered"]
    assert run["torch"] is False
    # the add-on's seam reached the vendor_models copy inside the extension, not a source checkout
    assert run["seam"] == f"{ADDON}.vendor_models.motion.protocol"
    if version == REFERENCE:
        assert run["version"] == _numbers(metadata.version("bpy"))
        return
    blender = BLENDERS[version]
    assert run["version"] == _numbers(version) and run["python"] == blender.python
    assert int(run["numpy"].split(".")[0]) == (1 if blender.numpy == "numpy<2" else 2)


@pytest.mark.parametrize("version", list(BLENDERS), ids=lambda v: f"bpy{v}")
def test_blender_bakes_and_poses_like_the_reference(version: str, smokes: dict[str, Future]) -> None:
    old, new = _run(smokes, version)["mannequin"], _run(smokes, REFERENCE)["mannequin"]
    assert old["slotted"] == (_numbers(version) >= [4, 4]), "4.4+ keys go through a slot's channelbag"
    assert len(old["actions"]) == 2 and old["frames"] == new["frames"] == 57, "2.4 s at the factory scene's 24 fps"
    assert old["nla"] == ["first - IM_Person_A"], "the first bake's action is kept in the NLA stack"
    assert old["fcurves"] == new["fcurves"] and old["keys"] == new["keys"] > 10 * FRAMES
    assert old["heads"].keys() == new["heads"].keys()
    for bone, head in new["heads"].items():
        np.testing.assert_allclose(old["heads"][bone], head, atol=1e-4, err_msg=bone)


@pytest.mark.parametrize("version", list(BLENDERS), ids=lambda v: f"bpy{v}")
def test_blender_generated_rigify_rig_moves_like_the_reference(version: str, smokes: dict[str, Future]) -> None:
    old, new = _run(smokes, version)["rigify"], _run(smokes, REFERENCE)["rigify"]
    assert old["preset"] == new["preset"] == "rigify_controls"
    for bone in ("ORG-spine", "ORG-spine.006", "ORG-hand.L", "ORG-forearm.L", "ORG-hand.R", "ORG-foot.L", "ORG-toe.R"):
        np.testing.assert_allclose(old["org_heads"][bone], new["org_heads"][bone], atol=1e-4, err_msg=bone)
