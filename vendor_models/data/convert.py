"""BVH file(s) → a :class:`Clip` at 30 fps in model space (Y-up, metres), one person or a pair.

Rotations follow the convention in :mod:`vendor_models.features`: ``W_j`` carries the rest pose
(``skeleton.REST_DIRECTIONS``, facing +Z) onto the current pose. We get it from the BVH's world rotations
``G_j(t)`` and a T-pose reference frame ``G_j(ref)``::

    W_j(t) = G_j(t) · G_j(ref)⁻¹ · Yaw(θ) · C_j

``G(t) G(ref)⁻¹`` is the motion relative to the T-pose, ``Yaw(θ)`` turns our +Z-facing rest onto the
T-pose's real facing, and ``C_j`` is the fixed rotation that carries ``skeleton.REST_DIRECTIONS`` onto
this skeleton's own T-pose bone directions (best fit over the joint's children), so forward kinematics of REST_DIRECTIONS × bone lengths reproduces
the joint positions. A per-frame swing then makes every single-child bone exact, and half-turn roll
flips of the source are undone (:func:`unwrap_half_turns`).

Per-source facts (measured, see /work/shared/data/cmu/SOURCES.md and the report of issue 2):

* Both skeletons here are Y-up in file space (checked on every conversion: the T-pose's spine must
  point along +Y).
* ``bvh_daz/`` (cgspeed Daz-friendly salsa): the header says 120 fps but the capture is 60 fps (the
  original 60_01.amc has exactly the 2242 motion frames of 01.bvh) — :data:`RATE_OVERRIDES`. Units:
  fitting CMU's 60_01.amc root (× 0.0254 / 0.45 m per CMU unit, from its ASF) as ``s · hip(t) + G_hip(t) ·
  o + c`` over all 2242 frames gives s = 0.0099986 m per Daz unit (mean residual 8.7 mm): centimetres.
* ``single_iclone/`` (Character Creator): centimetres, header frame time is right. Only some files
  start with a T-pose frame; the others borrow the T-pose of a sibling file with the identical skeleton
  (same joints and offsets), see :func:`find_rest_reference`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..motion.canonical import canonicalise, facing_angle
from ..motion.clip_file import Clip, ClipError
from ..motion.contacts import detect_contacts
from ..motion.resampling import resample
from ..motion.rotations import (
    best_fit_rotation,
    local_from_world,
    matrix_to_quat,
    quat_between,
    quat_inverse,
    quat_multiply,
    quat_normalize,
    quat_rotate,
    yaw_quat,
)
from ..motion.skeleton import FPS, JOINT_INDEX, NUM_JOINTS, PARENTS, REST_DIRECTIONS
from .bvh import BvhError, BvhMotion, read_bvh
from .joint_maps import SKELETONS, identify, map_joints

#: Bump whenever a change here changes the clips written, so caches built by older code are rebuilt.
CONVERTER_VERSION = 5
#: Metres per file unit, per skeleton (see the module docstring for how each was measured).
METRES_PER_UNIT: dict[str, float] = {"daz": 0.01, "iclone": 0.01}
#: True capture rate per source folder where the BVH header is wrong (keyed by the folder's name).
RATE_OVERRIDES: dict[str, float] = {"bvh_daz": 60.0}
_CHILDREN: dict[int, list[int]] = {j: [c for c in range(NUM_JOINTS) if PARENTS[c] == j] for j in range(NUM_JOINTS)}


@dataclass
class Person:
    """One converted person at the source rate: model-space positions and world rotations W_j."""

    positions: np.ndarray  # [N, 22, 3] metres, Y-up, file's world frame
    world: np.ndarray  # [N, 22, 4] quaternions W_j
    fps: float
    info: dict[str, Any]


def tpose_error(positions: np.ndarray) -> float:
    """How far one frame of our 22 joints [22, 3] is from a T-pose (0 = perfect).

    The worst of: arm (shoulder→wrist) tilt from horizontal, elbow bend, leg (hip→ankle) tilt from
    vertical, each as 1 − cosine-like terms, measured against the pelvis→neck axis.
    """
    def unit(v: np.ndarray) -> np.ndarray:
        return v / max(float(np.linalg.norm(v)), 1e-9)
    j = JOINT_INDEX
    up = unit(positions[j["neck"]] - positions[j["pelvis"]])
    worst = 0.0
    for side in ("left", "right"):
        sh, el, wr = (positions[j[f"{side}_{n}"]] for n in ("shoulder", "elbow", "wrist"))
        leg = unit(positions[j[f"{side}_ankle"]] - positions[j[f"{side}_hip"]])
        worst = max(worst, abs(float(unit(wr - sh) @ up)), 1 - float(unit(el - sh) @ unit(wr - el)), 1 + float(leg @ up))
    return worst


#: Largest :func:`tpose_error` accepted as a T-pose (the Daz files' frame 0 scores 0.045).
TPOSE_TOLERANCE = 0.1


def _mapped(motion: BvhMotion, skeleton: str) -> tuple[np.ndarray, np.ndarray]:
    positions, rotations = map_joints(motion, skeleton)
    return positions * METRES_PER_UNIT[skeleton], rotations


def _listing(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """The folder's BVH files with their sizes and times, so cached answers notice added or changed files."""
    return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.glob("*.bvh")))


@lru_cache(maxsize=16)
def _best_sibling_tpose(
    folder: Path, listing: tuple[tuple[str, int, int], ...], signature: bytes, skeleton: str,
) -> tuple[Path, np.ndarray, np.ndarray] | None:
    """The BVH in ``folder`` with this skeleton signature whose frame 0 is the cleanest T-pose."""
    best: tuple[float, Path, np.ndarray, np.ndarray] | None = None
    for name, _, _ in listing:
        sibling = folder / name
        try:
            other = read_bvh(sibling, max_frames=1)
        except BvhError:
            continue
        if other.joint_names.count(SKELETONS[skeleton]["pelvis"].joint) != 1 or _signature(other, skeleton) != signature:
            continue
        pos, rot = _mapped(other, skeleton)
        err = tpose_error(pos[0])
        if err < TPOSE_TOLERANCE and (best is None or err < best[0]):
            best = (err, sibling, pos[0], rot[0])
    return None if best is None else best[1:]


def _signature(motion: BvhMotion, skeleton: str) -> bytes:
    """Names and offsets of every joint below the pelvis joint: files with equal signatures share local
    joint frames, whatever sits above the pelvis (iClone exports with and without an RL_BoneRoot)."""
    top = motion.index(SKELETONS[skeleton]["pelvis"].joint)
    below = np.zeros(len(motion.joint_names), dtype=bool)
    for k, parent in enumerate(motion.parents):
        below[k] = parent >= 0 and (parent == top or below[parent])
    names = "/".join(n for n, b in zip(motion.joint_names, below) if b)
    return names.encode() + np.round(motion.offsets[below], 3).tobytes()


def find_rest_reference(motion: BvhMotion, skeleton: str) -> tuple[np.ndarray, np.ndarray, str]:
    """T-pose reference (positions [22,3], world rotations [22,3,3], description) for a file.

    Frame 0 of the file itself when it is a T-pose; otherwise frame 0 of the sibling BVH (same folder)
    with the identical skeleton whose frame 0 is the cleanest T-pose.
    """
    positions, rotations = _mapped(motion, skeleton)
    if tpose_error(positions[0]) < TPOSE_TOLERANCE:
        return positions[0], rotations[0], "frame 0"
    folder = motion.path.parent.resolve()
    found = _best_sibling_tpose(folder, _listing(folder), _signature(motion, skeleton), skeleton)
    if found is None:
        raise BvhError(
            f"{motion.path}: frame 0 is not a T-pose and no BVH beside it with the same skeleton starts with one, "
            "so there is no rest pose to measure rotations against"
        )
    return found[1], found[2], f"frame 0 of {found[0].name}"


def _rest_alignment(rest_positions: np.ndarray, facing: float) -> np.ndarray:
    """C_j [22, 4]: carries REST_DIRECTIONS of each joint's children onto the T-pose's bone directions."""
    unturn = yaw_quat(np.array(-facing))
    align = np.zeros((NUM_JOINTS, 4))
    align[:, 0] = 1.0
    for j, children in _CHILDREN.items():
        if children:
            bones = quat_rotate(unturn, rest_positions[children] - rest_positions[j])
            bones /= np.linalg.norm(bones, axis=-1, keepdims=True)
            align[j] = best_fit_rotation(REST_DIRECTIONS[children].astype(np.float64), bones)
    return align


def _swing_to_positions(world: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Make each single-child joint's rotation point its REST_DIRECTION exactly at the child's position.

    A 22-joint bone can span several BVH joints (iClone's neck = NeckTwist01 → NeckTwist02 → Head), so
    the rotation of the BVH joint we read leaves a small per-frame miss; the shortest swing removes it
    and keeps the twist the BVH recorded.
    """
    world = world.copy()
    for j, children in _CHILDREN.items():
        if len(children) == 1:
            c = children[0]
            predicted = quat_rotate(world[:, j], np.broadcast_to(REST_DIRECTIONS[c].astype(np.float64), (len(world), 3)))
            world[:, j] = quat_multiply(quat_between(predicted, positions[:, c] - positions[:, j]), world[:, j])
    return quat_normalize(world)


def unwrap_half_turns(world: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Undo 180° twist flips of a joint about its bone between consecutive frames [N, 22, ...].

    Some exports flip a bone's roll by a half turn for a few frames (iClone thighs in fast dance turns):
    the joint positions do not change, but the rotation jumps. A half turn about the bone is invisible
    in positions, so removing it from every frame between an odd number of such jumps restores a
    continuous rotation with the same positions. The axis is the joint's bone to its only child, or,
    for a leaf (wrist, head, toe), the bone from its parent.
    """
    world = world.copy()
    for j in range(1, NUM_JOINTS):
        children = _CHILDREN[j]
        if len(children) > 1:
            continue
        axis = positions[:, children[0]] - positions[:, j] if children else positions[:, j] - positions[:, PARENTS[j]]
        axis = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-9)
        step = quat_multiply(world[1:, j], quat_inverse(world[:-1, j]))
        twist = 2 * np.arctan2(np.sum(step[:, 1:] * axis[1:], axis=-1), step[:, 0])
        jumps = np.abs((twist + np.pi) % (2 * np.pi) - np.pi) > np.pi / 2
        flipped = np.concatenate([[0], np.cumsum(jumps)]) % 2 == 1
        if flipped.any():
            half = np.concatenate([np.zeros((flipped.sum(), 1)), axis[flipped]], axis=-1)  # 180° about the axis
            world[flipped, j] = quat_multiply(half, world[flipped, j])
    return quat_normalize(world)


def convert_person(path: str | Path, fps: float | None = None) -> Person:
    """One BVH file → a :class:`Person` (T-pose frame dropped when the file starts with one)."""
    path = Path(path)
    motion = read_bvh(path)
    skeleton = identify(motion)
    positions, rotations = _mapped(motion, skeleton)
    rest_pos, rest_rot, rest_from = find_rest_reference(motion, skeleton)
    spine = rest_pos[JOINT_INDEX["neck"]] - rest_pos[JOINT_INDEX["pelvis"]]
    if spine[1] < 0.9 * np.linalg.norm(spine):
        raise BvhError(f"{path}: the T-pose's spine does not point along +Y; only Y-up BVH files are supported")
    if rest_from == "frame 0":
        positions, rotations = positions[1:], rotations[1:]
    if positions.shape[0] < 2:
        raise BvhError(f"{path}: needs at least 2 motion frames, has {positions.shape[0]}")
    facing = float(facing_angle(rest_pos))
    relative = matrix_to_quat(rotations @ np.swapaxes(rest_rot, -1, -2)[None])
    world = quat_multiply(relative, quat_multiply(yaw_quat(np.array(facing)), _rest_alignment(rest_pos, facing)))
    world = unwrap_half_turns(_swing_to_positions(world, positions), positions)
    rate = fps or RATE_OVERRIDES.get(path.parent.name) or motion.fps
    info = {"file": path.name, "skeleton": skeleton, "source_fps": round(float(rate), 4),
            "header_fps": round(motion.fps, 4), "metres_per_unit": METRES_PER_UNIT[skeleton], "rest": rest_from}
    return Person(positions, quat_normalize(world), float(rate), info)


#: Joint speed (m/s) below which a recording counts as settled; see :func:`settled_start`.
SETTLED_SPEED = 5.0
#: Skeletons whose files blend out of the T-pose over the first motion frames (measured on all 28 cgspeed
#: salsa files: hands at 9-14 m/s for 3 frames at 60 fps, then < 4 m/s). A brisk walk legitimately
#: reaches 7 m/s at the feet, so the trim is limited to these.
BLENDS_FROM_TPOSE = {"daz"}


def settled_start(positions: list[np.ndarray], fps: float, window_s: float = 0.5) -> int:
    """First frame, within the first ``window_s`` seconds, from which no joint of anyone moves faster
    than :data:`SETTLED_SPEED` to the next frame (0 when none qualifies).

    The cgspeed salsa files blend out of the T-pose over their first motion frames (hands move at
    ~14 m/s for 3 frames at 60 fps); those frames are not motion and are dropped.
    """
    steps = [np.linalg.norm(np.diff(p[: int(window_s * fps) + 2], axis=0), axis=-1).max(axis=-1) * fps for p in positions]
    calm = np.max(np.stack(steps), axis=0) < SETTLED_SPEED
    return int(np.argmax(calm)) if calm.any() else 0


def convert(paths: list[str | Path], fps: float | None = None, meta: dict[str, Any] | None = None) -> Clip:
    """One BVH (a single person) or two (a pair sharing one world frame) → a 30 fps model-space clip.

    The clip is placed like InterGen's canonical frame but with ONE floor for both people (the lowest
    joint of anyone is at Y = 0): person 0's root starts at the origin facing +Z.
    """
    if len(paths) not in (1, 2):
        raise ClipError(f"convert takes one BVH file or a pair, got {len(paths)}")
    people = [convert_person(p, fps) for p in paths]
    counts = [p.positions.shape[0] for p in people]
    if len(set(counts)) != 1 or len({p.fps for p in people}) != 1:
        raise BvhError(
            "partner files differ: " + ", ".join(f"{p.info['file']} has {n} motion frames at {p.fps:g} fps" for p, n in zip(people, counts))
        )
    blends = all(p.info["skeleton"] in BLENDS_FROM_TPOSE and p.info["rest"] == "frame 0" for p in people)
    start = settled_start([p.positions for p in people], people[0].fps) if blends else 0
    resampled = [resample(p.positions[start:], local_from_world(p.world[start:], PARENTS), p.fps) for p in people]
    positions = np.stack([r[0] for r in resampled], axis=1)
    rotations = np.stack([r[1] for r in resampled], axis=1)
    positions, rotations, _ = canonicalise(positions, rotations, shared_floor=True)
    contacts = np.moveaxis(detect_contacts(np.moveaxis(positions, 1, 0)), 0, 1)
    info = dict(meta or {})
    info.update({"source": "cmu", "people": [p.info for p in people], "model": "mocap", "unsettled_frames_dropped": start})
    return Clip(positions, rotations, contacts, FPS, info)
