"""Regenerate a stretch of two armatures' animation: read them back as the model's clip, and once the
worker has edited that clip, write new actions that copy every old key outside the stretch as it is and
bake only the stretch.

Copying rather than re-baking keeps what the animator kept exactly (hand-tuned keys, handles, fingers and
every channel the model does not drive); the model side already blends the edit into the kept motion inside
the stretch, so nothing outside it needs new keys. The new actions are written like any bake (the old ones
pushed down into the NLA, muted), as data operations only, so an operator with UNDO reverts it in one step.
Scene frames here; the worker counts clip frames at 30 fps from the first frame read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from ..rigs.bonemap import BoneMapError, bone_map_for
from ..rigs.read_armature import ArmatureReading, placement_of
from ..rigs.retarget import retarget_people
from ..rigs.rig_rest import rig_rest
from ..seam import clip_file as clipmod
from ..seam import protocol, resampling, skeleton
from .bake import BakeError, pose_channels, scene_fps
from .keys import (
    AUTO_CLAMPED,
    LINEAR,
    KeyedCurve,
    action_fcurves,
    read_curve,
    write_curves,
)


@dataclass(frozen=True)
class StretchSource:
    """The armatures' motion as one two-person 30 fps clip, and the scene frame its clip frame 0 is on."""

    clip: clipmod.Clip
    first: int
    fps: float

    def clip_frames(self, stretch: tuple[int, int]) -> tuple[int, int]:
        """Scene frames ``stretch`` (inclusive) as the clip frames the worker's edit takes."""
        scale = skeleton.FPS / self.fps
        first = int(np.floor((stretch[0] - self.first) * scale))
        last = int(np.ceil((stretch[1] - self.first) * scale))
        return max(first, 0), min(last, self.clip.num_frames - 1)


def animated_range(armatures: list[Any]) -> tuple[int, int]:
    """The scene frames the armatures' active actions span together."""
    ranges = []
    for obj in armatures:
        adt = obj.animation_data
        if adt is None or adt.action is None:
            raise UsageError(f"'{obj.name}' has no active action to regenerate a stretch of")
        ranges.append(tuple(round(f) for f in adt.action.frame_range))
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def check_stretch(armatures: list[Any], stretch: tuple[int, int]) -> tuple[int, int]:
    """The animated range, after refusing a stretch that is empty or not inside it."""
    if len(armatures) != 2:
        raise UsageError(f"regenerating a stretch needs the two people's armatures, not {len(armatures)}")
    first, last = animated_range(armatures)
    if stretch[1] < stretch[0]:
        raise UsageError(f"the stretch {stretch[0]}-{stretch[1]} is empty: its end must not come before its start")
    if stretch[0] < first or stretch[1] > last:
        raise UsageError(f"the stretch {stretch[0]}-{stretch[1]} is not inside the animation ({first}-{last})")
    return first, last


#: The read clip's file in the edit job's folder, next to the result: :func:`splice_result` finds it there.
SOURCE_FILE = "stretch_source.npz"


class StretchReading:
    """Person A's and B's armatures read back over their whole animation (the edit needs context), a slice
    at a time so the panel's job timer can spread it across ticks (see ``client.job.Preparation``).

    The clip it ends with records what the job was started for (armature names, scene frames and rate, the
    stretch, whose motion, the prompt) so the result is written onto those, whatever the panel says by then.
    Given ``request``, its last step saves the clip where the request names it and fills in the clip frames
    (they depend on how many 30 fps frames the reading gives). :meth:`close` must follow."""

    def __init__(self, scene: Any, armatures: list[Any], stretch: tuple[int, int], *, person: str = "both",
                 prompt: str = "", request: protocol.Edit | None = None) -> None:
        first, last = check_stretch(armatures, stretch)
        if person not in protocol.PERSONS:
            raise UsageError(f"person must be one of {', '.join(protocol.PERSONS)}, not {person!r}")
        self.first, self.fps, self.stretch, self.request = first, scene_fps(scene), stretch, request
        self.meta = {"source": "armatures", "armatures": [obj.name for obj in armatures], "frames": [first, last],
                     "scene_fps": self.fps, "stretch": list(stretch), "person": person, "prompt": prompt}
        self.readings: list[ArmatureReading] = []
        try:
            self.readings += [ArmatureReading(obj, scene, first, last) for obj in armatures]
        except BaseException:
            self.close()
            raise
        self.status = "Reading the armatures…"
        self.source: StretchSource | None = None

    def step(self, budget_s: float | None) -> float:
        """Frames for about ``budget_s`` seconds (None: all); then the clip, then its file, a call each."""
        pending = [r for r in self.readings if r.progress[0] < r.progress[1]]
        if pending:
            pending[0].sample(budget_s)
            done = sum(r.progress[0] for r in self.readings)
            total = sum(r.progress[1] for r in self.readings)
            self.status = f"Reading the armatures {done}/{total}"
            return 0.98 * done / total
        if self.source is None:
            clip = clipmod.stack_people([r.clip() for r in self.readings], self.meta)
            self.source = StretchSource(clip, self.first, self.fps)
            return 0.99
        if self.request is not None:
            self.source.clip.save(self.request.clip)
            self.request.first, self.request.last = self.source.clip_frames(self.stretch)
        return 1.0

    def close(self) -> None:
        for reading in self.readings:
            reading.close()


def read_people(scene: Any, armatures: list[Any], stretch: tuple[int, int]) -> StretchSource:
    """The two armatures read back in one go (see :class:`StretchReading`)."""
    reading = StretchReading(scene, armatures, stretch)
    try:
        while reading.source is None:
            reading.step(None)
        return reading.source
    finally:
        reading.close()


def edit_request(out_dir: Path, *, person: str, prompt: str,
                 sampler: protocol.SamplerSettings = protocol.DEFAULT_SAMPLER) -> protocol.Edit:
    """The worker's edit, its clip file in ``out_dir``; :class:`StretchReading` fills in the clip frames."""
    return protocol.Edit(protocol.new_job_id(), clip=str(out_dir / SOURCE_FILE), person=person, prompt=prompt,
                         sampler=sampler, out_dir=str(out_dir))


def splice_result(scene: Any, result_path: str) -> tuple[list[str], tuple[int, int]]:
    """An edit job's result written (:func:`splice_stretch`) onto the armatures and stretch it was started
    for, as recorded in the read clip beside it; the new actions' names and the stretch."""
    try:
        source_clip = clipmod.Clip.load(Path(result_path).parent / SOURCE_FILE)
        edited = clipmod.Clip.load(result_path)
    except (OSError, clipmod.ClipError) as exc:
        raise BakeError(f"the regenerated stretch's files are gone ({exc}): press Regenerate again") from exc
    meta = source_clip.meta
    armatures = []
    for name in meta["armatures"]:
        obj = scene.objects.get(name)
        if obj is None or obj.type != "ARMATURE":
            raise BakeError(f"'{name}', whose stretch was regenerated, is no longer in the scene: "
                            "press Regenerate again")
        armatures.append(obj)
    first, last = meta["stretch"]
    source = StretchSource(source_clip, meta["frames"][0], meta["scene_fps"])
    name = f"{meta['prompt'] or 'InterMask'} {first}-{last}"
    return splice_stretch(scene, armatures, edited, source, (first, last), name, meta["person"]), (first, last)


def _spliced(old: KeyedCurve, frames: np.ndarray, values: np.ndarray, stretch: tuple[int, int]) -> KeyedCurve:
    """``old`` with its keys inside ``stretch`` replaced by linear keys at ``frames``."""
    frame = old.co[:, 0]
    before, after = frame < stretch[0], frame > stretch[1]
    new_co = np.stack([frames, values], axis=1).astype(np.float32)
    co = np.concatenate([old.co[before], new_co, old.co[after]])
    interpolation = np.concatenate([old.interpolation[before], np.full(len(new_co), LINEAR, np.int32),
                                    old.interpolation[after]])
    assert old.handles is not None and old.types is not None  # read_curve fills them
    handles = tuple(np.concatenate([h[before], new_co, h[after]]) for h in old.handles)
    types = tuple(np.concatenate([t[before], np.full(len(new_co), AUTO_CLAMPED, np.int32), t[after]])
                  for t in old.types)
    return KeyedCurve(old.data_path, old.index, old.group, co, interpolation, (handles[0], handles[1]),
                      (types[0], types[1]))


def _new_channel(obj: Any, data_path: str, index: int, group: str, frames: np.ndarray, values: np.ndarray,
                 stretch: tuple[int, int]) -> KeyedCurve:
    """A channel the old action did not key: the stretch, held at the property's present value on either side."""
    try:
        held = float(obj.path_resolve(data_path)[index])
    except (ValueError, TypeError, IndexError):
        held = float(values[0])
    co = np.concatenate([[[stretch[0] - 1, held]], np.stack([frames, values], axis=1), [[stretch[1] + 1, held]]])
    return KeyedCurve(data_path, index, group, co.astype(np.float32), np.full(len(co), LINEAR, np.int32))


def splice_stretch(scene: Any, armatures: list[Any], edited: clipmod.Clip, source: StretchSource,
                   stretch: tuple[int, int], name: str, person: str = "both") -> list[str]:
    """New actions on the regenerated ``person``'s armatures: old keys outside ``stretch``, ``edited`` inside.

    ``edited`` is the worker's answer to :func:`edit_request` (same frames as ``source.clip``); each armature
    is retargeted with the placement it was read with, so the stretch meets the kept keys in place. Both
    people are retargeted (a hand on the partner lands on the partner), but a person the edit kept keeps
    its action untouched."""
    if edited.num_people != 2 or edited.num_frames != source.clip.num_frames:
        raise BakeError(f"the edited clip ({edited.num_people} people, {edited.num_frames} frames) does not match "
                        f"the read one (2 people, {source.clip.num_frames} frames)")
    for layer in scene.view_layers:
        layer.update()
    timed = resampling.resample_clip(edited, source.fps)
    frames = source.first + np.arange(timed.num_frames)
    inside = (frames >= stretch[0]) & (frames <= stretch[1])
    try:
        rigs = [rig_rest(obj, bone_map_for(obj)) for obj in armatures]
    except BoneMapError as exc:
        raise BakeError(str(exc)) from exc
    poses = retarget_people(timed, rigs, [placement_of(obj, scene) for obj in armatures])
    names = []
    for slot, (obj, rig, pose) in enumerate(zip(armatures, rigs, poses)):
        if person != "both" and protocol.PERSONS[slot] != person:
            continue
        baked = {(c.data_path, c.index): c for c in pose_channels(pose, rig.rotation_modes, None, rig.object_scale)}
        curves = []
        for fcurve in action_fcurves(obj):
            old = read_curve(fcurve)
            channel = baked.pop((old.data_path, old.index), None)
            curves.append(old if channel is None else
                          _spliced(old, frames[inside], np.asarray(channel.values)[inside], stretch))
        curves += [_new_channel(obj, c.data_path, c.index, c.group, frames[inside], np.asarray(c.values)[inside],
                                stretch) for c in baked.values()]
        names.append(write_curves(obj, f"{name} - {obj.name}", curves).name)
    return names
