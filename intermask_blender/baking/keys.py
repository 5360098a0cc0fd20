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
_KEY = bpy.types.Keyframe.bl_rna.properties
LINEAR = _KEY["interpolation"].enum_items["LINEAR"].value  # type: ignore[attr-defined]
#: Handles of keys written next to copied Bézier keys: Blender's default for new keys.
AUTO_CLAMPED = _KEY["handle_left_type"].enum_items["AUTO_CLAMPED"].value  # type: ignore[attr-defined]


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


def _new_fcurve(container: Any, data_path: str, index: int, group: str, groups: dict[str, Any]) -> Any:
    if not SLOTTED:
        return container.new(data_path, index=index, action_group=group)
    if bpy.app.version >= (5, 0, 0):
        return container.fcurves.new(data_path, index=index, group_name=group)
    fcurve = container.fcurves.new(data_path, index=index)
    if group not in groups:
        groups[group] = container.groups.new(group)
    fcurve.group = groups[group]
    return fcurve


@dataclass
class KeyedCurve:
    """One F-curve to write key by key: ``co [K, 2]`` (frame, value) in frame order, ``interpolation [K]``
    (enum values), and where keys are copied from another curve their ``handles`` (left, right [K, 2]) and
    handle ``types`` (left, right [K]); keys without handles keep Blender's defaults."""

    data_path: str
    index: int
    group: str
    co: np.ndarray
    interpolation: np.ndarray
    handles: tuple[np.ndarray, np.ndarray] | None = None
    types: tuple[np.ndarray, np.ndarray] | None = None


def read_curve(fcurve: Any) -> KeyedCurve:
    """An existing F-curve's keys, whole (co, interpolation, handles and their types), read with foreach_get."""
    count = len(fcurve.keyframe_points)
    arrays = {}
    for name, dtype, width in (("co", np.float32, 2), ("handle_left", np.float32, 2), ("handle_right", np.float32, 2),
                               ("interpolation", np.int32, 1), ("handle_left_type", np.int32, 1),
                               ("handle_right_type", np.int32, 1)):
        flat = np.empty(count * width, dtype=dtype)
        fcurve.keyframe_points.foreach_get(name, flat)
        arrays[name] = flat.reshape(count, width) if width > 1 else flat
    group = fcurve.group.name if fcurve.group is not None else ""
    return KeyedCurve(fcurve.data_path, fcurve.array_index, group, arrays["co"], arrays["interpolation"],
                      (arrays["handle_left"], arrays["handle_right"]),
                      (arrays["handle_left_type"], arrays["handle_right_type"]))


def action_fcurves(obj: Any) -> list[Any]:
    """The F-curves the object's active action plays on it (its slot's channelbag on 4.4+)."""
    adt = obj.animation_data
    if adt is None or adt.action is None:
        return []
    if not SLOTTED:
        return list(adt.action.fcurves)
    from bpy_extras import anim_utils

    bag = anim_utils.action_get_channelbag_for_slot(adt.action, adt.action_slot)
    return list(bag.fcurves) if bag is not None else []


def write_curves(obj: Any, name: str, curves: list[KeyedCurve]) -> Any:
    """Create action ``name`` holding ``curves``, push any old one to NLA (muted), assign it."""
    push_down(obj)
    action = bpy.data.actions.new(name)
    container, slot = _fcurve_collection(action, obj)
    groups: dict[str, Any] = {}
    for curve in curves:
        fcurve = _new_fcurve(container, curve.data_path, curve.index, curve.group, groups)
        points = fcurve.keyframe_points
        points.add(len(curve.co))
        points.foreach_set("co", np.asarray(curve.co, dtype=np.float32).ravel())
        points.foreach_set("interpolation", np.asarray(curve.interpolation, dtype=np.int32))
        if curve.handles is not None:
            points.foreach_set("handle_left", np.asarray(curve.handles[0], dtype=np.float32).ravel())
            points.foreach_set("handle_right", np.asarray(curve.handles[1], dtype=np.float32).ravel())
        if curve.types is not None:
            points.foreach_set("handle_left_type", np.asarray(curve.types[0], dtype=np.int32))
            points.foreach_set("handle_right_type", np.asarray(curve.types[1], dtype=np.int32))
        # No fcurve.update(): keys are ordered and unique, and copied handles stay exactly as they were.
    adt = obj.animation_data or obj.animation_data_create()
    adt.action = action
    if slot is not None:
        adt.action_slot = slot
    return action


def write_action(obj: Any, name: str, frames: np.ndarray, channels: list[Channel]) -> Any:
    """Create action ``name`` with ``channels`` keyed (linear) at ``frames``, push any old one to NLA, assign it."""
    frames = np.asarray(frames, dtype=np.float32)
    curves = []
    for channel in channels:
        keep = slice(None) if channel.keep is None else channel.keep
        co = np.stack([frames[keep], np.asarray(channel.values, dtype=np.float32)[keep]], axis=1)
        curves.append(KeyedCurve(channel.data_path, channel.index, channel.group, co,
                                 np.full(len(co), LINEAR, dtype=np.int32)))
    return write_curves(obj, name, curves)


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
