"""Bake a clip onto armatures as new, editable actions — the one entry point the panel and CLI use.

``bake_clip`` only creates and assigns data (actions, NLA tracks, two custom properties); it runs no
operator and changes no mode, so an operator with ``bl_options={'REGISTER', 'UNDO'}`` that calls it is
undone in one step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InterMaskError
from ..rigs.bonemap import BoneMapError, bone_map_for
from ..rigs.read_armature import placement_of, read_clip
from ..rigs.retarget import SolvedPose, retarget_people
from ..rigs.rig_rest import place, rig_as_shown
from ..seam import clip_file as clipmod
from ..seam import resampling
from ..seam import rotations as rot
from .keys import Channel, reduce_mask, write_action

__all__ = ["BakeError", "BakeReport", "bake_clip", "read_clip"]


class BakeError(InterMaskError, RuntimeError):
    """A bake that cannot be done; the message names the armature, bone or field at fault."""


@dataclass
class BakeReport:
    actions: list[str]
    armatures: list[str]
    frames: int
    frame_start: int
    fps: float
    seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def frame_end(self) -> int:
        return self.frame_start + self.frames - 1


def scene_fps(scene: Any) -> float:
    return float(scene.render.fps) / float(scene.render.fps_base)


def matrix_to_euler(m: np.ndarray, order: str) -> np.ndarray:
    """Rotation matrices [T,3,3] → Blender Euler angles [T,3] (x, y, z) for ``order``, unwrapped over T.

    Blender's order "XYZ" applies X first: ``R = Rz · Ry · Rx``. For axes applied (i, j, k) with parity
    s = ±1: ``b = asin(-s R[k,i])``, ``a = atan2(s R[k,j], R[k,k])``, ``c = atan2(s R[j,i], R[i,i])``.
    """
    i, j, k = ("XYZ".index(axis) for axis in order)
    s = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    out = np.empty((m.shape[0], 3))
    out[:, i] = np.arctan2(s * m[:, k, j], m[:, k, k])
    out[:, j] = np.arcsin(np.clip(-s * m[:, k, i], -1.0, 1.0))
    out[:, k] = np.arctan2(s * m[:, j, i], m[:, i, i])
    return np.unwrap(out, axis=0)


def _rotation_channels(pose: SolvedPose, b: int, mode: str) -> tuple[str, np.ndarray]:
    """The bone's rotation in its own rotation mode: quaternion, axis-angle or Euler (continuous)."""
    quats = pose.quaternions[:, b]
    if mode == "QUATERNION":
        return "rotation_quaternion", quats
    if mode == "AXIS_ANGLE":
        angle = 2.0 * np.arccos(np.clip(quats[:, :1], -1.0, 1.0))
        axis = quats[:, 1:] / np.maximum(np.sin(angle / 2.0), 1e-12)
        axis[angle[:, 0] < 1e-9] = (0.0, 1.0, 0.0)
        return "rotation_axis_angle", np.concatenate([angle, axis], axis=1)
    return "rotation_euler", matrix_to_euler(rot.quat_to_matrix(quats), mode)


def pose_channels(pose: SolvedPose, modes: list[str], reduce_error: float | None, unit_scale: float) -> list[Channel]:
    """F-curve data for a solved pose; ``reduce_error`` degrees (rotations) / centimetres (root motion)."""
    channels = []
    for b, name in enumerate(pose.bone_names):
        if not pose.keyed[b]:
            continue
        group = name
        prop, values = _rotation_channels(pose, b, modes[b])
        keep = None
        if reduce_error is not None:
            tolerance = np.radians(reduce_error) / 2.0 if prop != "rotation_euler" else np.radians(reduce_error)
            keep = reduce_mask(values, tolerance)
        channels += [Channel(f'pose.bones["{name}"].{prop}', i, group, values[:, i], keep) for i in range(values.shape[1])]
        if pose.moves[b]:
            locations = pose.locations[:, b]
            loc_keep = None if reduce_error is None else reduce_mask(locations, reduce_error / 100.0 / unit_scale)
            channels += [Channel(f'pose.bones["{name}"].location', i, group, locations[:, i], loc_keep) for i in range(3)]
    return channels


def setting_channels(obj: Any, settings: dict[str, float], frames: int) -> list[Channel]:
    """One key at the first frame for each control-rig setting the armature really has (FK/IK switches)."""
    first = np.zeros(frames, dtype=bool)
    first[0] = True
    channels = []
    for path, value in settings.items():
        try:
            obj.path_resolve(path)
        except ValueError:
            continue  # another Rigify version, without this property
        bone = path.split('"')[1]
        channels.append(Channel(path, 0, bone, np.full(frames, value), first))
    return channels


def bake_clip(
    scene: Any,
    clip: clipmod.Clip,
    armatures: list[Any],
    *,
    name: str,
    frame_start: int | None = None,
    reduce_error: float | None = None,
    anchor: Any | None = None,
) -> BakeReport:
    """Retarget ``clip`` (one person per armature, in order) and bake one new action per armature.

    Keys start at ``frame_start`` (default: the scene's current frame) at the scene's frame rate. All
    people share one ground origin so their relative placement survives: the first armature's location,
    or — in reaction mode, pass the partner as ``anchor`` — the origin the partner was read with.
    ``reduce_error`` (degrees for rotations, centimetres for root motion) thins keys within that error.
    """
    began = time.perf_counter()
    if len(armatures) != clip.num_people:
        raise BakeError(f"the clip has {clip.num_people} people but {len(armatures)} armatures were given")
    for obj in armatures:
        if getattr(obj, "type", None) != "ARMATURE":
            raise BakeError(f"'{getattr(obj, 'name', obj)}' is not an armature object")
    if reduce_error is not None and not reduce_error > 0:
        raise BakeError(f"reduce_error must be a positive tolerance, got {reduce_error}")
    for layer in scene.view_layers:  # object matrices set since the last evaluation are not in matrix_world yet
        layer.update()
    start = int(scene.frame_current if frame_start is None else frame_start)
    fps = scene_fps(scene)
    timed = resampling.resample_clip(clip, fps)
    anchor_xy = np.array(armatures[0].matrix_world.translation[:2])
    if anchor is not None:
        try:
            anchor_xy = placement_of(anchor, scene).origin[:2]
        except clipmod.ClipError as exc:
            raise BakeError(f"anchor: {exc}") from exc
    frames = start + np.arange(timed.num_frames)
    report = BakeReport([], [], timed.num_frames, start, fps, 0.0)
    maps, rigs, placements = [], [], []
    for person, obj in enumerate(armatures):
        try:
            maps.append(bone_map_for(obj))
            rigs.append(rig_as_shown(obj, maps[-1], scene))  # on the floor it stands on, not its rest feet
        except BoneMapError as exc:
            raise BakeError(str(exc)) from exc
        one = timed.person(person)
        placements.append(place(one.positions[:, 0], one.contacts[:, 0], rigs[-1], anchor_xy))
    poses = retarget_people(timed, rigs, placements)  # together: a hand on the partner lands on the partner's rig
    for obj, bone_map, rig, placement, pose in zip(armatures, maps, rigs, placements, poses):
        channels = pose_channels(pose, rig.rotation_modes, reduce_error, rig.object_scale)
        channels += setting_channels(obj, bone_map.settings, timed.num_frames)
        action_name = name if len(armatures) == 1 else f"{name} - {obj.name}"
        action = write_action(obj, action_name, frames, channels)
        placement.store(obj)
        report.actions.append(action.name)
        report.armatures.append(obj.name)
        constrained = [n for b, n in enumerate(pose.bone_names) if pose.keyed[b] and rig.constrained[b]]
        if constrained:
            report.warnings.append(f"{obj.name}: constraints on {', '.join(constrained[:6])} may override the baked keys")
    scene.frame_end = max(scene.frame_end, report.frame_end)
    report.seconds = time.perf_counter() - began
    return report
