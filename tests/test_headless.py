"""`intermask generate` / `intermask react` as a user runs them: real processes, real worker, real .blend.

The written .blend is opened in a separate bpy process and checked for armatures carrying keyed actions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "cmu"
INTERMASK = [sys.executable, "-m", "intermask_blender.commands.main"]
DEFAULT_CHECKPOINT = REPO / "vendor_models" / "checkpoints" / "default"
CHECKPOINT = Path(os.environ.get("INTERMASK_TEST_CHECKPOINT", DEFAULT_CHECKPOINT))
#: A model is complete once its transformer is there (the VQ-VAE ships first).
needs_model = pytest.mark.skipif(not (CHECKPOINT / "transformer.pt").is_file(), reason=f"no model at {CHECKPOINT}")
MODEL_ARGS = ["--device", "cpu", "--steps", "6"] + (["--checkpoint", str(CHECKPOINT)] if CHECKPOINT != DEFAULT_CHECKPOINT else [])
PROMPT = "two people dance salsa: the couple hold hands and face each other"

pytestmark = pytest.mark.timeout(300)


def intermask(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI in ``cwd`` with its own temporary folder, ``cwd/tmp`` (see :func:`leftovers`)."""
    (cwd / "tmp").mkdir(exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", TMPDIR=str(cwd / "tmp"))
    return subprocess.run([*INTERMASK, *args], capture_output=True, text=True, timeout=280, cwd=cwd, env=env)


_INSPECT = r"""
import json, sys, bpy
from bpy_extras import anim_utils
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
found = {}
for obj in bpy.data.objects:
    if obj.type != "ARMATURE":
        continue
    anim = obj.animation_data
    action = anim.action if anim else None
    keys = 0
    if action is not None:
        bag = anim_utils.action_get_channelbag_for_slot(action, anim.action_slot)
        keys = sum(len(fc.keyframe_points) for fc in bag.fcurves) if bag else 0
    found[obj.name] = {"action": action.name if action else None, "keys": keys}
scene = bpy.context.scene
print("BLEND " + json.dumps({"armatures": found, "fps": scene.render.fps, "frame_end": scene.frame_end}))
"""


def leftovers(cwd: Path) -> list[str]:
    """Job folders a finished command left in its temporary folder (torch keeps its own cache there)."""
    return sorted(p.name for p in (cwd / "tmp").iterdir() if p.name.startswith("intermask_"))


def inspect(blend: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _INSPECT, str(blend)], capture_output=True, text=True, timeout=120)
    line = next((l for l in done.stdout.splitlines() if l.startswith("BLEND ")), None)
    assert line, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(line[len("BLEND "):])


@pytest.mark.parametrize(("args", "message"), [
    (["generate", "x", "--seconds", "61", "--out", "a.blend"], "--seconds must be within 1-60, not 61"),
    (["generate", "x", "--out", "a.txt"], "--out must name a .blend file"),
    (["generate", "x", "--out", "a.blend", "--rig", "mannequin", "--rig", "rigify", "--rig", "rigify"],
     "at most two --rig"),
    (["generate", "x", "--out", "a.blend", "--variation", "3", "--variations", "2"], "--variation 3 is not among"),
    (["react", "x", "--partner", "missing.bvh", "--out", "a.blend", "--device", "cpu"], "missing.bvh"),
    (["react", "x", "--partner", str(DATA / "bvh_daz/01.bvh"), "--partner-frames", "50:10", "--out", "a.blend"],
     "the end must come after the start"),
])
def test_bad_input_is_one_line_naming_the_problem(tmp_path: Path, args: list[str], message: str) -> None:
    done = intermask(*args, cwd=tmp_path)
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "a.blend").exists()


def test_a_missing_checkpoint_folder_is_named(tmp_path: Path) -> None:
    done = intermask("generate", PROMPT, "--seconds", "2", "--out", "a.blend", "--device", "cpu",
                     "--checkpoint", str(tmp_path / "no_such_model"), cwd=tmp_path)
    assert done.returncode == 1 and "no_such_model" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "a.blend").exists() and leftovers(tmp_path) == []


@needs_model
def test_generate_writes_a_blend_with_two_keyed_rigs_and_a_json_summary(tmp_path: Path) -> None:
    done = intermask("generate", PROMPT, "--seconds", "2", "--seed", "1", "--out", "out/scene.blend",
                     "--save-clip", "out/clip.npz", "--json", *MODEL_ARGS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["frames"] == 60 and summary["fps"] == 30
    assert summary["armatures"] == ["IM_Person_A", "IM_Person_B"]
    assert len(summary["actions"]) == 2 and summary["generation_seconds"] > 0 and summary["bake_seconds"] > 0
    assert (tmp_path / "out/clip.npz").is_file() and leftovers(tmp_path) == []
    blend = inspect(tmp_path / "out/scene.blend")
    for name, action in zip(summary["armatures"], summary["actions"]):
        assert blend["armatures"][name]["action"] == action
        assert blend["armatures"][name]["keys"] > 60 * 20
    assert blend["fps"] == 30 and blend["frame_end"] >= 60


@needs_model
def test_two_rig_specs_are_person_a_and_b(tmp_path: Path) -> None:
    done = intermask("generate", PROMPT, "--seconds", "1.5", "--out", "two.blend", "--rig", "rigify",
                     "--rig", "mannequin", "--json", *MODEL_ARGS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["armatures"][1] == "IM_Person_B" and summary["armatures"][0] != "IM_Person_A"
    blend = inspect(tmp_path / "two.blend")
    assert all(blend["armatures"][name]["keys"] > 0 for name in summary["armatures"])


@needs_model
def test_react_to_a_real_bvh_partner(tmp_path: Path) -> None:
    # the cgspeed Daz files state 120 fps in their header but were captured at 60 (../shared/data/cmu/SOURCES.md);
    # frame 1 is their T-pose, so the window starts after it
    done = intermask("react", "--partner", str(DATA / "bvh_daz/01.bvh"), "--partner-fps", "60",
                     "--partner-frames", "2:240", PROMPT, "--out", "react.blend", "--json", *MODEL_ARGS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    partner, person_b = summary["armatures"]
    assert person_b == "IM_Person_B" and len(summary["actions"]) == 1
    blend = inspect(tmp_path / "react.blend")
    assert blend["armatures"][person_b]["action"] == summary["actions"][0]
    assert blend["armatures"][partner]["keys"] > 0, "the partner keeps its own animation"
    assert blend["fps"] == 60 and abs(summary["frames"] - 239) <= 8  # B at the partner's rate over its window


@needs_model
def test_demo_writes_the_blend_and_a_preview_gif(tmp_path: Path) -> None:
    extra = ["--checkpoint", str(CHECKPOINT)] if CHECKPOINT != DEFAULT_CHECKPOINT else []
    done = subprocess.run([sys.executable, "-m", "intermask_blender.commands.demo", "--out-dir", str(tmp_path), "--seconds", "3",
                           *extra], capture_output=True, text=True, timeout=280, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "wrote:" in done.stdout and "preview:" in done.stdout
    blend = inspect(tmp_path / "demo.blend")
    assert sorted(blend["armatures"]) == ["IM_Person_A", "IM_Person_B"]
    assert all(rig["keys"] > 0 for rig in blend["armatures"].values())
    assert (tmp_path / "demo.gif").read_bytes()[:6] in (b"GIF87a", b"GIF89a")


_OVERRIDDEN_RIG = r"""
import sys, bpy
from intermask_blender.commands.scene_setup import new_scene
from intermask_blender.rigs.bonemap import set_override
from intermask_blender.rigs.rig_specs import resolve_rig
rig = resolve_rig("mannequin", new_scene(), 0)
rig.data.bones["left_wrist"].name = "grip_socket"  # a name no preset knows: only the override maps it
set_override(rig, "left_wrist", "grip_socket")
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
print("RIG", rig.name)
"""


def test_generate_honours_the_bone_map_overrides_saved_in_a_blend_rig(tmp_path: Path) -> None:
    rig_file = tmp_path / "rig.blend"
    made = subprocess.run([sys.executable, "-c", _OVERRIDDEN_RIG, str(rig_file)], capture_output=True, text=True,
                          timeout=120)
    assert made.returncode == 0, made.stderr[-2000:]
    name = next(line.split()[1] for line in made.stdout.splitlines() if line.startswith("RIG"))
    out = tmp_path / "scene.blend"
    done = intermask("generate", "two people dance", "--seconds", "1", "--steps", "2", "--rig", f"{rig_file}:{name}",
                     "--out", str(out), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["frames"] > 0
