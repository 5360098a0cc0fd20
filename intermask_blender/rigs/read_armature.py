"""Read an animated armature back into a clip (reaction input), as the exact inverse of baking.

Whatever drives the armature — its action, NLA strips, constraints, drivers — the depsgraph-evaluated
pose is what is read, frame by frame. World joint positions go back to model space through the
placement baking stored on the armature (scale by leg length, origin on the floor); an armature we never
baked gets a placement from its own leg length. Frames are resampled from the scene rate to 30 fps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from ..seam import clip_file as clipmod
from ..seam import contacts, protocol, resampling, skeleton
from .bonemap import BoneMapError, bone_map_for
from .retarget import CHILDREN, PARENTS, PRIMARY_CHILD, Retargeter, clip_local_rotations
from .rig_rest import Placement, default_placement, rig_rest

J = skeleton.JOINT_INDEX


def _fill_missing(positions: np.ndarray, mapped: set[int], tails: dict[int, np.ndarray]) -> np.ndarray:
    """Joints the rig lacks: evenly between mapped neighbours on their chain, else the parent bone's tail."""
    for j in range(skeleton.NUM_JOINTS):
        if j in mapped:
            continue
        chain, k = [j], j
        while CHILDREN[k] and k not in mapped:
            k = PRIMARY_CHILD.get(k, CHILDREN[k][0])
            chain.append(k)
        parent = PARENTS[j]
        if k in mapped and k != j:
            for step, joint in enumerate(chain[:-1], start=1):
                if joint not in mapped:
                    w = step / len(chain)
                    positions[:, joint] = (1 - w) * positions[:, parent] + w * positions[:, k]
                    mapped.add(joint)
        else:
            positions[:, j] = tails.get(parent, positions[:, parent])
            mapped.add(j)
    return positions


def _evaluated_frames(armature: Any, scene: Any, frames: range, bones: list[str]) -> tuple[np.ndarray, ...]:
    """World heads, tails [T,B,3] and rotations [T,B,3,3] of ``bones`` at each frame, evaluated."""
    import bpy

    index = [armature.pose.bones.find(n) for n in bones]
    count = len(armature.pose.bones)
    heads = np.empty((len(frames), len(bones), 3))
    tails = np.empty_like(heads)
    orient = np.empty((len(frames), len(bones), 3, 3))
    buffer_m = np.empty(count * 16, dtype=np.float32)
    buffer_t = np.empty(count * 3, dtype=np.float32)
    for t, frame in enumerate(frames):
        scene.frame_set(frame)
        evaluated = armature.evaluated_get(bpy.context.evaluated_depsgraph_get())
        world = np.array(evaluated.matrix_world, dtype=np.float64)
        evaluated.pose.bones.foreach_get("matrix", buffer_m)
        evaluated.pose.bones.foreach_get("tail", buffer_t)
        pose = buffer_m.reshape(count, 4, 4).transpose(0, 2, 1)[index].astype(np.float64)
        world_pose = world @ pose
        heads[t] = world_pose[:, :3, 3]
        tails[t] = buffer_t.reshape(count, 3)[index] @ world[:3, :3].T + world[:3, 3]
        rotation = world_pose[:, :3, :3]
        orient[t] = rotation / np.linalg.norm(rotation, axis=1, keepdims=True)
    return heads, tails, orient


def placement_of(armature: Any) -> Placement:
    """The placement baking stored on the armature, else one from its own legs (see :mod:`rig`)."""
    try:
        rig = rig_rest(armature, bone_map_for(armature, reading=True))
    except BoneMapError as exc:
        raise clipmod.ClipError(str(exc)) from exc
    return Placement.stored(armature) or default_placement(rig)


def read_clip(armature: Any, scene: Any, frame_start: int, frame_end: int) -> clipmod.Clip:
    """The armature's motion over ``frame_start..frame_end`` (inclusive) as a one-person 30 fps clip."""
    if getattr(armature, "type", None) != "ARMATURE":
        raise clipmod.ClipError(f"'{getattr(armature, 'name', armature)}' is not an armature object")
    if frame_end < frame_start:
        raise clipmod.ClipError(f"frame range {frame_start}..{frame_end} is empty")
    placement = placement_of(armature)
    solver = Retargeter(rig_rest(armature, bone_map_for(armature, reading=True)))
    current = scene.frame_current
    try:
        heads, tails, orient = solver.with_tail_joints(*_evaluated_frames(armature, scene, range(frame_start, frame_end + 1), solver.rig.bone_names))
    finally:
        scene.frame_set(current)
    positions = np.zeros((heads.shape[0], skeleton.NUM_JOINTS, 3))
    bone_tails: dict[int, np.ndarray] = {}
    pelvis = solver.mapped[J["pelvis"]]
    heads[:, pelvis] += solver.rig.pelvis_pivot(orient[:, pelvis])
    for joint, b in solver.mapped.items():
        positions[:, joint] = placement.to_model(heads[:, b])
        bone_tails[joint] = placement.to_model(tails[:, b])
    positions = _fill_missing(positions, set(solver.mapped), bone_tails)
    rotations = clip_local_rotations(solver.clip_rotations(orient))
    fps = float(scene.render.fps) / float(scene.render.fps_base)
    meta = {"source": "armature", "armature": armature.name, "frames": [frame_start, frame_end], "scene_fps": fps}
    unknown = np.zeros((positions.shape[0], 1, 4), dtype=bool)
    clip = resampling.resample_clip(clipmod.Clip(positions[:, None], rotations[:, None], unknown, fps, meta), float(skeleton.FPS))
    return clipmod.Clip(clip.positions, clip.rotations, contacts.detect_contacts(clip.positions[:, 0])[:, None], clip.fps, meta)


def read_partner(armature: Any, scene: Any, frames: tuple[int, int] | None = None) -> tuple[clipmod.Clip, int]:
    """React's person A: the armature's animation as a one-person clip, and the scene frame it starts on
    (person B's keys start there too). ``frames`` defaults to its action's range (the scene's range
    when only NLA strips animate it); at most ``MAX_SECONDS`` are read. The panel and ``intermask react``
    both read the partner here."""
    if getattr(armature, "type", None) != "ARMATURE":
        raise UsageError(f"'{getattr(armature, 'name', armature)}' is not an armature, so it cannot be the partner")
    anim = armature.animation_data
    if anim is None or (anim.action is None and not anim.nla_tracks):
        raise UsageError(f"'{armature.name}' has no animation to react to")
    first, last = scene.frame_start, scene.frame_end
    if anim.action is not None:
        first, last = (int(round(f)) for f in anim.action.frame_range)
    if frames is not None:
        first, last = frames
        if last <= first:
            raise UsageError(f"the partner's frames {first}:{last} are empty: the end must come after the start")
    longest = int(protocol.MAX_SECONDS * scene.render.fps / scene.render.fps_base)
    last = min(last, first + longest - 1)
    return read_clip(armature, scene, first, last), first
