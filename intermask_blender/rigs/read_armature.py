"""Read an animated armature back into a clip (reaction input), as the exact inverse of baking.

An armature moved by its active action alone is read from the action's F-curves (see :mod:`action_pose`):
no scene is touched, so no viewport redraws. Whatever else drives an armature — NLA strips, constraints,
drivers — the depsgraph-evaluated pose is read, frame by frame, in a scene of its own (see
:class:`PoseSampler`). Either way reading can be spread over the UI's timer ticks without moving the
animator's current frame. World joint positions go back to model space through the
placement baking stored on the armature (scale by leg length, origin on the floor); an armature we never
baked gets a placement from its own leg length. Frames are resampled from the scene rate to 30 fps.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..errors import UsageError
from ..seam import clip_file as clipmod
from ..seam import contacts, protocol, resampling, skeleton
from .action_pose import ActionPoseSampler, fcurve_refusal
from .bonemap import BoneMapError, bone_map_for
from .retarget import CHILDREN, PARENTS, PRIMARY_CHILD, Retargeter, clip_local_rotations
from .rig_rest import Placement, default_placement, rig_as_shown, rig_rest

J = skeleton.JOINT_INDEX
#: The temporary scene a reading evaluates the armature in (removed when the reading closes).
READING_SCENE = "IM_Reading"


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


class PoseSampler:
    """World heads, tails [T,B,3] and rotations [T,B,3,3] of some bones, evaluated frame by frame, a few
    frames per call so a timer can spread the work across ticks.

    Frames are evaluated in a temporary scene that holds only the armature (its constraint and driver
    targets come along as dependencies): a frame costs the armature's own evaluation instead of the whole
    scene's (bodies it deforms, everything else animated) and the scene's current frame never moves.
    Evaluating frames there redraws no viewport, but creating, linking and removing the scene each set off
    viewport redraws in a GUI (1.5–2.2 s of pauses in all), so rigs :mod:`action_pose` can read don't come
    here. Objects are found by name on every call, so an undo between calls is an error, never a
    dangling reference."""

    def __init__(self, armature: Any, scene: Any, frames: range, bones: list[str]) -> None:
        import bpy

        self.armature, self.frames = armature.name, frames
        self.index = [armature.pose.bones.find(n) for n in bones]
        self.heads = np.empty((len(frames), len(bones), 3))
        self.tails = np.empty_like(self.heads)
        self.orient = np.empty((len(frames), len(bones), 3, 3))
        self.done = 0
        reading = bpy.data.scenes.new(READING_SCENE)
        reading.render.fps, reading.render.fps_base = scene.render.fps, scene.render.fps_base
        reading.collection.objects.link(armature)
        self.scene = reading.name

    def sample(self, budget_s: float | None = None) -> bool:
        """Evaluate frames until all are read or ``budget_s`` seconds are spent (at least one frame);
        True once every frame is read."""
        import bpy

        began = time.perf_counter()
        scene, armature = bpy.data.scenes.get(self.scene), bpy.data.objects.get(self.armature)
        if scene is None or armature is None or armature.type != "ARMATURE":
            raise UsageError(f"'{self.armature}' changed while it was being read (undo?): press Generate again")
        layer = scene.view_layers[0]
        count = len(armature.pose.bones)
        buffer_m = np.empty(count * 16, dtype=np.float32)
        buffer_t = np.empty(count * 3, dtype=np.float32)
        while self.done < len(self.frames):
            t = self.done
            scene.frame_current = self.frames[t]
            layer.update()  # evaluates what the frame change touched: this armature and its dependencies
            evaluated = armature.evaluated_get(layer.depsgraph)
            world = np.array(evaluated.matrix_world, dtype=np.float64)
            evaluated.pose.bones.foreach_get("matrix", buffer_m)
            evaluated.pose.bones.foreach_get("tail", buffer_t)
            pose = buffer_m.reshape(count, 4, 4).transpose(0, 2, 1)[self.index].astype(np.float64)
            world_pose = world @ pose
            self.heads[t] = world_pose[:, :3, 3]
            self.tails[t] = buffer_t.reshape(count, 3)[self.index] @ world[:3, :3].T + world[:3, 3]
            rotation = world_pose[:, :3, :3]
            self.orient[t] = rotation / np.linalg.norm(rotation, axis=1, keepdims=True)
            self.done += 1
            if budget_s is not None and time.perf_counter() - began >= budget_s:
                break
        return self.done == len(self.frames)

    def close(self) -> None:
        """Remove the temporary scene; the armature's own scene re-evaluates it at its current frame."""
        import bpy

        scene = bpy.data.scenes.get(self.scene)
        if scene is not None:
            bpy.data.scenes.remove(scene)
        armature = bpy.data.objects.get(self.armature)
        if armature is not None:
            armature.update_tag()  # the reading depsgraph wrote its last pose back to the armature


def placement_of(armature: Any, scene: Any) -> Placement:
    """The placement baking stored on the armature, else one from its own legs on the floor its feet stand
    on in ``scene`` now (see :mod:`rig_rest`)."""
    try:
        rig = rig_as_shown(armature, bone_map_for(armature, reading=True), scene)
    except BoneMapError as exc:
        raise clipmod.ClipError(str(exc)) from exc
    return Placement.stored(armature) or default_placement(rig)


class ArmatureReading:
    """An armature's motion over ``frame_start..frame_end`` (inclusive) on its way to a one-person 30 fps
    clip: checked and mapped at once, then sampled by :meth:`sample` (all at once, or a few frames per
    call), then turned into the clip by :meth:`clip`. :meth:`close` must follow, whatever happens."""

    def __init__(self, armature: Any, scene: Any, frame_start: int, frame_end: int) -> None:
        if getattr(armature, "type", None) != "ARMATURE":
            raise clipmod.ClipError(f"'{getattr(armature, 'name', armature)}' is not an armature object")
        if frame_end < frame_start:
            raise clipmod.ClipError(f"frame range {frame_start}..{frame_end} is empty")
        self.placement = placement_of(armature, scene)
        self.solver = Retargeter(rig_rest(armature, bone_map_for(armature, reading=True)))
        self.fps = float(scene.render.fps) / float(scene.render.fps_base)
        self.meta = {"source": "armature", "armature": armature.name, "frames": [frame_start, frame_end],
                     "scene_fps": self.fps}
        frames, bones = range(frame_start, frame_end + 1), self.solver.rig.bone_names
        # the action alone moves the common rig: its F-curves give the pose without a scene (no viewport
        # redraws); anything else is evaluated in the reading scene
        self.sampler: ActionPoseSampler | PoseSampler = (
            ActionPoseSampler(armature, frames, bones) if fcurve_refusal(armature) is None
            else PoseSampler(armature, scene, frames, bones))

    @property
    def progress(self) -> tuple[int, int]:
        """(frames read, frames in all)."""
        return self.sampler.done, len(self.sampler.frames)

    def sample(self, budget_s: float | None = None) -> bool:
        return self.sampler.sample(budget_s)

    def close(self) -> None:
        self.sampler.close()

    def clip(self) -> clipmod.Clip:
        """The clip of the frames read (all of them, once :meth:`sample` returned True)."""
        solver = self.solver
        heads, tails, orient = solver.with_tail_joints(self.sampler.heads.copy(), self.sampler.tails, self.sampler.orient)
        positions = np.zeros((heads.shape[0], skeleton.NUM_JOINTS, 3))
        bone_tails: dict[int, np.ndarray] = {}
        pelvis = solver.mapped[J["pelvis"]]
        heads[:, pelvis] += solver.rig.pelvis_pivot(orient[:, pelvis])
        for joint, b in solver.mapped.items():
            positions[:, joint] = self.placement.to_model(heads[:, b])
            bone_tails[joint] = self.placement.to_model(tails[:, b])
        positions = _fill_missing(positions, set(solver.mapped), bone_tails)
        rotations = clip_local_rotations(solver.clip_rotations(orient))
        unknown = np.zeros((positions.shape[0], 1, 4), dtype=bool)
        clip = resampling.resample_clip(clipmod.Clip(positions[:, None], rotations[:, None], unknown, self.fps, self.meta),
                                        float(skeleton.FPS))
        return clipmod.Clip(clip.positions, clip.rotations, contacts.detect_contacts(clip.positions[:, 0])[:, None],
                            clip.fps, self.meta)


def read_clip(armature: Any, scene: Any, frame_start: int, frame_end: int) -> clipmod.Clip:
    """The armature's motion over ``frame_start..frame_end`` (inclusive) as a one-person 30 fps clip."""
    reading = ArmatureReading(armature, scene, frame_start, frame_end)
    try:
        reading.sample()
        return reading.clip()
    finally:
        reading.close()


def partner_window(armature: Any, scene: Any, frames: tuple[int, int] | None = None) -> tuple[int, int]:
    """React's person A: the frames of the armature's animation to read (first, last). ``frames`` defaults to
    its action's range (the scene's range when only NLA strips animate it); at most ``MAX_TAKE_SECONDS`` (a
    partner longer than one window is answered in windows)."""
    if getattr(armature, "type", None) != "ARMATURE":
        raise UsageError(f"'{getattr(armature, 'name', armature)}' is not an armature, so it cannot be the partner")
    anim = armature.animation_data
    if anim is None or (anim.action is None and not anim.nla_tracks):
        raise UsageError(f"'{armature.name}' has no animation to react to")
    first, last = scene.frame_start, scene.frame_end
    if anim.action is not None:
        first, last = (round(f) for f in anim.action.frame_range)
    if frames is not None:
        first, last = frames
        if last <= first:
            raise UsageError(f"the partner's frames {first}:{last} are empty: the end must come after the start")
    longest = int(protocol.MAX_TAKE_SECONDS * scene.render.fps / scene.render.fps_base)
    return first, min(last, first + longest - 1)


def read_partner(armature: Any, scene: Any, frames: tuple[int, int] | None = None) -> tuple[clipmod.Clip, int]:
    """The partner (see :func:`partner_window`) as a one-person clip, and the scene frame it starts on
    (person B's keys start there too), read in one go: ``intermask react`` reads it here, the panel reads
    it across timer ticks with :class:`ArmatureReading`."""
    first, last = partner_window(armature, scene, frames)
    return read_clip(armature, scene, first, last), first
