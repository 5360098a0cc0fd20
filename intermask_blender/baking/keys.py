"""Write dense key arrays into a new Action fast, and keep whatever animation was there.

Keys go in through ``keyframe_points.add`` + ``foreach_set`` (one call per F-curve, not one per key),
into a slotted action's channelbag on Blender 4.4+ and through the legacy ``Action.fcurves`` on 4.2/4.3.
An action already on the object is pushed down onto an NLA track first, never modified or deleted, and
muted there: NLA strips below the active action play under it, so an old action left playing would keep
moving every bone the new one does not key (fingers, extra bones). The animator can unmute it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bpy
import numpy as np

SLOTTED = bpy.app.version >= (4, 4, 0)
_LINEAR = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value  # type: ignore[attr-defined]


@dataclass
class Channel:
    """One F-curve to write: ``values[k]`` at ``frames[keep][k]`` (keep = key-reduction mask or None)."""

    data_path: str
    index: int
    group: str
    values: np.ndarray
    keep: np.ndarray | None = None


def push_down(obj: Any) -> Any | None:
    """Move the object's active action onto a new NLA track (as-is, muted) and clear the active slot.

    Returns the new track, or None when there was no active action.
    """
    adt = obj.animation_data
    if adt is None or adt.action is None:
        return None
    old = adt.action
    slot = adt.action_slot if SLOTTED else None
    track = adt.nla_tracks.new()
    track.name = old.name
    start = int(np.floor(old.frame_range[0]))
    strip = track.strips.new(old.name, start, old)
    if slot is not None:
        strip.action_slot = slot
    strip.mute = True
    adt.action = None
    return track


def _fcurve_collection(action: Any, obj: Any) -> tuple[Any, Any]:
    """Where F-curves of a new action for ``obj`` live, and the slot to assign (None before 4.4)."""
    if not SLOTTED:
        return action.fcurves, None
    slot = action.slots.new(id_type="OBJECT", name=obj.name)
    strip = action.layers.new("Layer").strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True), slot


def _new_fcurve(container: Any, channel: Channel, groups: dict[str, Any]) -> Any:
    if not SLOTTED:
        return container.new(channel.data_path, index=channel.index, action_group=channel.group)
    if bpy.app.version >= (5, 0, 0):
        return container.fcurves.new(channel.data_path, index=channel.index, group_name=channel.group)
    fcurve = container.fcurves.new(channel.data_path, index=channel.index)
    if channel.group not in groups:
        groups[channel.group] = container.groups.new(channel.group)
    fcurve.group = groups[channel.group]
    return fcurve


def write_action(obj: Any, name: str, frames: np.ndarray, channels: list[Channel]) -> Any:
    """Create action ``name`` with ``channels`` keyed at ``frames``, push any old one to NLA, assign it."""
    push_down(obj)
    action = bpy.data.actions.new(name)
    container, slot = _fcurve_collection(action, obj)
    groups: dict[str, Any] = {}
    frames = np.asarray(frames, dtype=np.float32)
    linear = np.full(len(frames), _LINEAR, dtype=np.int32)
    for channel in channels:
        keep = slice(None) if channel.keep is None else channel.keep
        co = np.empty((len(frames[keep]), 2), dtype=np.float32)
        co[:, 0], co[:, 1] = frames[keep], np.asarray(channel.values, dtype=np.float32)[keep]
        fcurve = _new_fcurve(container, channel, groups)
        points = fcurve.keyframe_points
        points.add(len(co))
        points.foreach_set("co", co.ravel())
        points.foreach_set("interpolation", linear[: len(co)])
        # No fcurve.update(): keys are new, ordered, unique and linear (as in bpy_extras.anim_utils).
    adt = obj.animation_data or obj.animation_data_create()
    adt.action = action
    if slot is not None:
        adt.action_slot = slot
    return action


def reduce_mask(values: np.ndarray, tolerance: float) -> np.ndarray:
    """Keys [T] to keep so straight lines between kept keys stay within ``tolerance`` of every value.

    ``values`` is [T, C] (channels reduced together, e.g. a quaternion's four). Ramer–Douglas–Peucker on
    the frame index, which keeps first and last keys and every key where a line would be too far off.
    """
    count = values.shape[0]
    keep = np.zeros(count, dtype=bool)
    keep[[0, count - 1]] = True
    stack = [(0, count - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        t = (np.arange(a + 1, b) - a) / (b - a)
        line = values[a] + t[:, None] * (values[b] - values[a])
        error = np.max(np.abs(values[a + 1 : b] - line), axis=1)
        worst = int(np.argmax(error))
        if error[worst] > tolerance:
            keep[a + 1 + worst] = True
            stack += [(a, a + 1 + worst), (a + 1 + worst, b)]
    return keep
