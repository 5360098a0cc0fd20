"""The add-on on the LTS releases before the newest Blender: bpy 4.2 (legacy ``Action.fcurves``) and
bpy 4.5 (slotted actions, before 5.0 removed the legacy API), each in its own venv made by
``tools/dev.py test``. Each bakes a real salsa clip and must pose the rig exactly as bpy 5.0 does, both
our mannequin and the control rig that release's Rigify generates."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vendor_models.data.build import ensure_cache
from vendor_models.motion.clip_file import Clip

REPO = Path(__file__).resolve().parents[1]
SMOKE = Path(__file__).with_name("old_blender_smoke.py")
FRAMES = 72
#: version → the venv tools/dev.py makes for it
OLD_BLENDERS = {(4, 2): REPO / ".venv-bpy42", (4, 5): REPO / ".venv-bpy45"}

pytestmark = pytest.mark.timeout(300)


def _smoke(python: Path, clip_path: Path, home: Path, *mode: str) -> dict[str, Any]:
    """Run the smoke script in a clean environment (no user config, no network repositories)."""
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(home), "BLENDER_USER_RESOURCES": str(home / "user")}
    done = subprocess.run([str(python), str(SMOKE), str(clip_path), *mode], capture_output=True, text=True, timeout=240, env=env)
    line = next((l for l in done.stdout.splitlines() if l.startswith("SMOKE ")), None)
    assert done.returncode == 0 and line, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(line[len("SMOKE "):])


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip = Clip.load(ensure_cache() / "salsa_01.npz")
    path = tmp_path_factory.mktemp("clip") / "salsa.npz"
    Clip(clip.positions[:FRAMES], clip.rotations[:FRAMES], clip.contacts[:FRAMES], clip.fps, clip.meta).save(path)
    return path


def _old_python(version: tuple[int, int]) -> Path:
    python = OLD_BLENDERS[version] / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no {OLD_BLENDERS[version].name} (tools/dev.py test creates it)")
    return python


@cache
def _newest(clip_path: Path, home: Path, *mode: str) -> dict[str, Any]:
    return _smoke(Path(sys.executable), clip_path, home, *mode)


@pytest.mark.parametrize("version", list(OLD_BLENDERS), ids=lambda v: f"bpy{v[0]}.{v[1]}")
def test_lts_blender_registers_bakes_and_poses_like_the_newest(version: tuple[int, int], clip_path: Path,
                                                               tmp_path: Path) -> None:
    old = _smoke(_old_python(version), clip_path, tmp_path)
    new = _newest(clip_path, clip_path.parent)
    assert tuple(old["version"]) == version and tuple(new["version"]) >= (5, 0)
    assert old["slotted"] == (version >= (4, 4)), "4.4+ keys go through a slot's channelbag"
    assert len(old["actions"]) == 2 and old["frames"] == new["frames"] == 57, "2.4 s at the factory scene's 24 fps"
    assert old["nla"] == ["first - IM_Person_A"], "the first bake's action is kept in the NLA stack"
    assert old["fcurves"] == new["fcurves"] and old["keys"] == new["keys"] > 10 * FRAMES
    assert old["heads"].keys() == new["heads"].keys()
    for bone, head in new["heads"].items():
        np.testing.assert_allclose(old["heads"][bone], head, atol=1e-4, err_msg=bone)


@pytest.mark.parametrize("version", list(OLD_BLENDERS), ids=lambda v: f"bpy{v[0]}.{v[1]}")
def test_lts_blender_generated_rigify_rig_moves_like_the_newest(version: tuple[int, int], clip_path: Path,
                                                                 tmp_path: Path) -> None:
    old = _smoke(_old_python(version), clip_path, tmp_path, "rigify")
    new = _newest(clip_path, clip_path.parent, "rigify")
    assert tuple(old["version"]) == version and old["preset"] == new["preset"] == "rigify_controls"
    for bone in ("ORG-spine", "ORG-spine.006", "ORG-hand.L", "ORG-forearm.L", "ORG-hand.R", "ORG-foot.L", "ORG-toe.R"):
        np.testing.assert_allclose(old["org_heads"][bone], new["org_heads"][bone], atol=1e-4, err_msg=bone)
