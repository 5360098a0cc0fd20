"""Read an armature's pose straight from its active action's F-curves, without the depsgraph.

React reads the partner frame by frame. Evaluating frames in a temporary scene (:class:`PoseSampler` in
:mod:`read_armature`) is exact whatever drives the rig, but creating, linking and removing that scene each
set off a chain of full viewport redraws (1.5–2.2 s of main-loop pauses per React in the GUI). For the
common rig — animated by its active action alone, no NLA playing, no drivers, no constraints — the pose is
just the F-curves' values composed down the bone tree, which this module does with numpy, touching neither
the scene graph nor the current frame. :func:`fcurve_refusal` says when that holds; everything else keeps
the temporary scene.
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np

from ..errors import UsageError

_CHANNEL = re.compile(r'^pose\.bones\["((?:[^"\\]|\\.)*)"\]\.(location|rotation_quaternion|rotation_euler|'
                      r"rotation_axis_angle|scale)$")
_SIZES = {"location": 3, "rotation_quaternion": 4, "rotation_euler": 3, "rotation_axis_angle": 4, "scale": 3}
#: Frames evaluated between two looks at the clock (one vectorised forward-kinematics pass each).
FRAMES_PER_CHUNK = 10


def action_fcurves(armature: Any) -> list[Any] | None:
    """The F-curves the active action plays on ``armature``: its slot's channelbag on 4.4+ (None when no
    slot is assigned), ``Action.fcurves`` before."""
    import bpy
    from bpy_extras import anim_utils

    adt = armature.animation_data
    if bpy.app.version < (4, 4, 0):
        return list(adt.action.fcurves)

    if adt.action_slot is None:
        return None
    bag = anim_utils.action_get_channelbag_for_slot(adt.action, adt.action_slot)
    return list(bag.fcurves) if bag is not None else []


def fcurve_refusal(armature: Any) -> str | None:
    """Why the armature's pose cannot be read from its action's F-curves alone, or None when it can: its
    active action (REPLACE, full influence, not in NLA tweak mode) is all that moves it — no NLA strip
    playing, no drivers, no object or bone constraints, no parent, no F-curve but pose bones' transforms —
    and its bones inherit scale fully (rotation inheritance and local location may be off)."""
    adt = armature.animation_data
    if adt is None or adt.action is None:
        return "no active action"
    if adt.use_tweak_mode or adt.action_blend_type != "REPLACE" or adt.action_influence < 1.0:
        return "the active action is blended or tweaked"
    if adt.use_nla and any(not t.mute and any(not s.mute for s in t.strips) for t in adt.nla_tracks):
        return "NLA strips play"
    for owner in (armature, armature.data):
        data_adt = owner.animation_data
        if data_adt is not None and len(data_adt.drivers):
            return f"'{owner.name}' has drivers"
    if armature.data.animation_data is not None and armature.data.animation_data.action is not None:
        return "the armature data is animated"
    if armature.parent is not None or any(c.enabled and c.influence > 0 for c in armature.constraints):
        return "the object follows a parent or constraint"
    for pose_bone in armature.pose.bones:
        if any(c.enabled and c.influence > 0 for c in pose_bone.constraints):
            return f"bone '{pose_bone.name}' has constraints"
        if pose_bone.parent is not None and pose_bone.bone.inherit_scale != "FULL":
            return f"bone '{pose_bone.name}' inherits scale as {pose_bone.bone.inherit_scale}"
    curves = action_fcurves(armature)
    if curves is None:
        return "the action has no slot for this armature"
    for fcurve in curves:
        if not fcurve.mute and _CHANNEL.match(fcurve.data_path) is None:
            return f"the action animates '{fcurve.data_path}'"
    return None


def _euler_matrices(angles: np.ndarray, order: str) -> np.ndarray:
    """[N,3] Euler angles → [N,3,3], the first axis of ``order`` applied first (Blender's convention)."""
    cos, sin = np.cos(angles), np.sin(angles)
    result = np.broadcast_to(np.eye(3), (len(angles), 3, 3)).copy()
    for axis_name in order:
        axis = "XYZ".index(axis_name)
        a, b = (axis + 1) % 3, (axis + 2) % 3
        turn = np.broadcast_to(np.eye(3), (len(angles), 3, 3)).copy()
        c, s = cos[:, axis], sin[:, axis]
        turn[:, a, a], turn[:, a, b], turn[:, b, a], turn[:, b, b] = c, -s, s, c
        result = turn @ result
    return result


def _quaternion_matrices(q: np.ndarray) -> np.ndarray:
    """[N,4] (w,x,y,z), normalised first as Blender does → [N,3,3]."""
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = (np.where(norm > 0, q / np.where(norm > 0, norm, 1), [1.0, 0, 0, 0])).T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


def _axis_angle_matrices(values: np.ndarray) -> np.ndarray:
    """[N,4] (angle, x, y, z) → [N,3,3]; a zero axis is no rotation."""
    angle, axis = values[:, 0], values[:, 1:]
    norm = np.linalg.norm(axis, axis=1)
    half = np.where(norm > 0, angle, 0.0) / 2
    unit = axis / np.where(norm > 0, norm, 1)[:, None]
    return _quaternion_matrices(np.concatenate([np.cos(half)[:, None], unit * np.sin(half)[:, None]], axis=1))


class _BoneChannels:
    """One pose bone's transform channels: the F-curve per component where one plays, else its value."""

    def __init__(self, pose_bone: Any, curves: dict[tuple[str, int], Any]) -> None:
        self.mode = pose_bone.rotation_mode
        self.connected = pose_bone.bone.use_connect  # Blender ignores a connected bone's location
        rotation = {"QUATERNION": "rotation_quaternion", "AXIS_ANGLE": "rotation_axis_angle"}.get(
            self.mode, "rotation_euler")
        self.channels = [(prop, [curves.get((prop, i)) for i in range(_SIZES[prop])],
                          np.array(getattr(pose_bone, prop), dtype=np.float64))
                         for prop in ("location", rotation, "scale")]

    def matrices(self, frames: np.ndarray) -> np.ndarray:
        """[N,4,4] channel matrices (translation · rotation · scale) at ``frames``."""
        values = {}
        for prop, curves, rest in self.channels:
            block = np.tile(rest, (len(frames), 1))
            for i, fcurve in enumerate(curves):
                if fcurve is not None:
                    block[:, i] = [fcurve.evaluate(f) for f in frames]
            values[prop] = block
        if self.mode == "QUATERNION":
            rotation = _quaternion_matrices(values["rotation_quaternion"])
        elif self.mode == "AXIS_ANGLE":
            rotation = _axis_angle_matrices(values["rotation_axis_angle"])
        else:
            rotation = _euler_matrices(values["rotation_euler"], self.mode)
        result = np.broadcast_to(np.eye(4), (len(frames), 4, 4)).copy()
        result[:, :3, :3] = rotation * values["scale"][:, None, :]
        if not self.connected:
            result[:, :3, 3] = values["location"]
        return result


class ActionPoseSampler:
    """:class:`read_armature.PoseSampler`'s results (world heads, tails [T,B,3], unit-column rotations
    [T,B,3,3]) computed from the action's F-curves by forward kinematics over the rest matrices, as
    Blender's ``BKE_bone_parent_transform_calc_from_matrices`` composes them; only for armatures
    :func:`fcurve_refusal` accepts. Nothing in the scene changes, so :meth:`close` has nothing to undo."""

    def __init__(self, armature: Any, frames: range, bones: list[str]) -> None:
        self.frames = frames
        self.heads = np.empty((len(frames), len(bones), 3))
        self.tails = np.empty_like(self.heads)
        self.orient = np.empty((len(frames), len(bones), 3, 3))
        self.done = 0
        self.world = np.array(armature.matrix_basis, dtype=np.float64)  # = world: no parent, no constraint
        self.armature = armature.name  # looked up again every tick: an undo or a delete frees the Python refs
        self.order: list[str] = []  # the asked bones and their ancestors, parents first
        for name in bones:
            chain = []
            bone = armature.data.bones[name]
            while bone is not None and bone.name not in self.order and bone.name not in chain:
                chain.append(bone.name)
                bone = bone.parent
            self.order += reversed(chain)
        data = armature.data.bones
        self.rest = {n: np.array(data[n].matrix_local, dtype=np.float64) for n in self.order}
        self.parent = {n: data[n].parent.name if data[n].parent else None for n in self.order}
        self.offset = {n: self.rest[n] if p is None else np.linalg.inv(self.rest[p]) @ self.rest[n]
                       for n, p in self.parent.items()}  # rest relative to the parent (Blender's offs_bone)
        self.hinge = {n: not data[n].use_inherit_rotation for n in self.order}
        self.local_location = {n: data[n].use_local_location for n in self.order}
        self.length = {n: data[n].length for n in self.order}
        self.asked = bones

    def _channels(self) -> dict[str, _BoneChannels]:
        """Each bone's channels from the armature as it is now; refuses one that was deleted or whose
        animation changed into one this reader does not follow (after an undo, say) since reading began."""
        import bpy

        armature = bpy.data.objects.get(self.armature)
        if armature is None or armature.type != "ARMATURE" or fcurve_refusal(armature) is not None:
            raise UsageError(f"'{self.armature}' changed while it was being read (undo?): press Generate again")
        curves: dict[str, dict[tuple[str, int], Any]] = {}
        for fcurve in action_fcurves(armature) or []:
            match = _CHANNEL.match(fcurve.data_path)
            if match and not fcurve.mute and not (fcurve.group is not None and fcurve.group.mute):
                name = match.group(1).replace('\\"', '"').replace("\\\\", "\\")
                curves.setdefault(name, {})[(match.group(2), fcurve.array_index)] = fcurve
        return {n: _BoneChannels(armature.pose.bones[n], curves.get(n, {})) for n in self.order}

    def _pose(self, channels: dict[str, _BoneChannels], frames: np.ndarray) -> dict[str, np.ndarray]:
        """Armature-space pose matrices [N,4,4] of every bone in :attr:`order`."""
        pose: dict[str, np.ndarray] = {}
        for name in self.order:
            channel, offset, parent = channels[name].matrices(frames), self.offset[name], self.parent[name]
            if parent is None:
                rotscale, parent_pose = np.broadcast_to(offset, channel.shape), None
            else:
                parent_pose, parent_rest = pose[parent], self.rest[parent]
                if self.hinge[name]:  # the parent's rest orientation, scaled by the parent's pose scale
                    scale = np.linalg.norm(parent_pose[:, :3, :3], axis=1)
                    frame = np.broadcast_to(parent_rest, channel.shape).copy()
                    frame[:, :3, :3] = frame[:, :3, :3] * scale[:, None, :]
                    rotscale = frame @ offset
                else:
                    rotscale = parent_pose @ offset
            result = rotscale @ channel
            loc = channel[:, :3, 3]
            if not self.local_location[name]:  # location along the parent's posed axes (armature's at the root)
                if parent_pose is None:
                    result[:, :3, 3] = offset[:3, 3] + loc
                else:
                    head = (parent_pose @ offset)[:, :3, 3]
                    result[:, :3, 3] = head + np.einsum("nij,nj->ni", parent_pose[:, :3, :3], loc)
            elif parent_pose is not None and self.hinge[name]:
                located = parent_pose @ offset
                result[:, :3, 3] = np.einsum("nij,nj->ni", located[:, :3, :3], loc) + located[:, :3, 3]
            pose[name] = result
        return pose

    def sample(self, budget_s: float | None = None) -> bool:
        """Compute frames until all are done or ``budget_s`` seconds are spent (at least one chunk);
        True once every frame is done."""
        began = time.perf_counter()
        channels = self._channels()
        while self.done < len(self.frames):
            stop = min(self.done + FRAMES_PER_CHUNK, len(self.frames))
            frames = np.array(self.frames[self.done:stop], dtype=np.float64)
            pose = self._pose(channels, frames)
            world = self.world
            for b, name in enumerate(self.asked):
                matrix = world @ pose[name]
                tail = pose[name][:, :3, 3] + pose[name][:, :3, 1] * self.length[name]
                self.heads[self.done:stop, b] = matrix[:, :3, 3]
                self.tails[self.done:stop, b] = tail @ world[:3, :3].T + world[:3, 3]
                rotation = matrix[:, :3, :3]
                self.orient[self.done:stop, b] = rotation / np.linalg.norm(rotation, axis=1, keepdims=True)
            self.done = stop
            if budget_s is not None and time.perf_counter() - began >= budget_s:
                break
        return self.done == len(self.frames)

    def close(self) -> None:
        """Nothing to remove: the scene was never touched."""
