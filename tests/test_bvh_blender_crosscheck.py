"""Our BVH reader against Blender's own BVH importer, on real CMU files of both skeletons we convert.

Blender's importer is the reference animators trust; if our forward kinematics (channel order, position
channels, offsets, End Sites aside) disagreed with it, every converted clip would be subtly wrong. Blender
runs in a child process (bpy must not share a process with torch) on a shortened copy of each file, so
the whole test stays well under 30 s.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vendor_models.data.bvh import read_bvh
from vendor_models.motion.skeleton import model_to_blender_matrix

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cmu"
FILES = [DATA / "bvh_daz" / "05.bvh", DATA / "single_iclone" / "005_01.bvh"]
KEEP_FRAMES = 240  # the copy keeps the T-pose frame 0 and the start of the motion
CHECK_FRAMES = [0, 1, 37, 120, 181, 239]
SCALE = 0.01  # both skeletons are in centimetres; Blender imports them in metres
TOLERANCE_M = 0.002

# Runs in a fresh interpreter: import the BVH the way an animator would (File > Import > BVH, default
# axes: file Y-up → Blender Z-up), then record every bone's evaluated world head at the given frames.
_BLENDER_CHILD = r"""
import sys
import bpy
import numpy as np

path, out, scale = sys.argv[1], sys.argv[2], float(sys.argv[3])
frames = [int(f) for f in sys.argv[4].split(",")]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_anim.bvh(filepath=path, global_scale=scale, frame_start=1, use_fps_scale=False,
                        update_scene_fps=False, update_scene_duration=True, rotate_mode="NATIVE",
                        axis_forward="-Z", axis_up="Y")
arm = next(ob for ob in bpy.context.scene.objects if ob.type == "ARMATURE")
names = [pb.name for pb in arm.pose.bones]
heads = np.zeros((len(frames), len(names), 3))
for i, frame in enumerate(frames):
    bpy.context.scene.frame_set(frame + 1)  # BVH frame 0 is keyed on scene frame frame_start = 1
    for j, pb in enumerate(arm.pose.bones):
        heads[i, j] = arm.matrix_world @ pb.head
np.savez(out, names=np.array(names), heads=heads)
"""


def _shortened_copy(source: Path, frames: int, out: Path) -> Path:
    """The same file with only its first ``frames`` frames (Blender's importer has no frame-range option)."""
    lines = source.read_text().splitlines()
    motion = next(i for i, line in enumerate(lines) if line.strip() == "MOTION")
    body = [line for line in lines[motion + 3:] if line.strip()]
    assert len(body) >= frames, f"{source} has only {len(body)} frames"
    header = lines[: motion + 1] + [f"Frames: {frames}", lines[motion + 2].strip()]
    out.write_text("\n".join(header + body[:frames]) + "\n")
    return out


def _blender_heads(path: Path, tmp_path: Path) -> tuple[list[str], np.ndarray]:
    out = tmp_path / "blender_heads.npz"
    done = subprocess.run(
        [sys.executable, "-c", _BLENDER_CHILD, str(path), str(out), str(SCALE), ",".join(map(str, CHECK_FRAMES))],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        return [str(n) for n in data["names"]], data["heads"]


@pytest.mark.parametrize("source", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_reader_matches_blender_importer(source: Path, tmp_path: Path) -> None:
    path = _shortened_copy(source, KEEP_FRAMES, tmp_path / source.name)
    names, blender = _blender_heads(path, tmp_path)
    motion = read_bvh(path)
    assert motion.num_frames == KEEP_FRAMES
    # our positions are in file axes and units; the importer scales them and turns Y-up into Z-up
    ours = SCALE * motion.world_positions()[CHECK_FRAMES] @ model_to_blender_matrix().T
    assert sorted(names) == sorted(motion.joint_names), "Blender made a different set of bones"
    order = [motion.joint_names.index(n) for n in names]
    error = np.linalg.norm(blender - ours[:, order], axis=-1)
    worst = np.unravel_index(np.argmax(error), error.shape)
    assert error.max() <= TOLERANCE_M, (
        f"max {error.max() * 1000:.2f} mm at frame {CHECK_FRAMES[worst[0]]}, joint {names[worst[1]]}"
    )
    # the frames really move: a reader that ignored the channels would fail here, not pass by accident
    travel = np.linalg.norm(blender[-1] - blender[1], axis=-1).max()
    assert travel > 0.05
