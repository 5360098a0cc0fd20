"""How faithfully a bake poses a rig, measured through Blender's depsgraph (what the animator sees).

    PYTHONPATH=. .venv/bin/python tests/rig_fidelity.py     # prints the numbers for every rig and clip

Everything here is measured from the evaluated armature and the rig's own rest data, independently of the
solver: the rig's joints are its evaluated bone heads (a joint at a bone's tail: the evaluated tail), the
rig's floor is the lowest point of its foot bones in world space as the rig stood before the bake (its
evaluated pose then: a glTF root bone can hold it metres above its rest), and the scale is the rig's leg
length (thigh + shin at rest) over the clip's. Every map is the add-on's own (``bone_map_for``, no override).

- limb directions: for every mapped joint, the angle between the rig's direction to the next mapped joint
  down its chain and the clip's (degrees, median and p95 over frames and links), on free limbs: a leg while
  the clip plants its foot and an arm while the clip's hand is on the partner reach for that contact
  instead, and are reported apart;
- pelvis height: the rig's hip midpoint over its floor against the clip's over the clip's floor (where its
  lowest foot joint is, 5th percentile over frames) times the scale (ratio; the hips, not the pelvis bone's head, which rigs put anywhere between them and the belly);
- hands on the partner (pairs): while the clip's wrist touches the partner (``contacts.hand_contacts``), how
  far the rig's wrist is from the partner rig's nearest bone, minus how far the clip's is from the partner's,
  scaled (cm, median; a hand that cannot reach without folding its arm falls back to the clip's directions);
- head: the angle between the way the rig's head bone's rest "up" (world +Z; every rig here stands upright
  at rest) points and the way the clip's head rotation points the clip's up (degrees, median), so a head
  tipped over by its neck's alignment shows;
- planted feet: while the clip's ankle is in contact and still (:data:`STILL`), how far the rig's ankle is from where it stands at
  rest above the floor, on the floor it stood on (cm).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from intermask_blender.baking import bake as bake_module
from intermask_blender.rigs.bonemap import BoneMap, bone_map_for
from intermask_blender.rigs.retarget import clip_world_rotations
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.skeleton import (
    JOINT_INDEX,
    JOINT_NAMES,
    PARENTS,
    model_to_blender,
)

RIGS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rigs"
ROBOT = RIGS / "RobotExpressive.glb"
CESIUM_MAN = RIGS / "cesiumman" / "CesiumMan.gltf"
#: A contact counts as planted where the clip's ankle moves less than this (m per frame): generated clips flag
#: contacts on feet that still slide.
STILL = 0.01
_PRIMARY = {JOINT_INDEX["pelvis"]: JOINT_INDEX["spine1"], JOINT_INDEX["spine3"]: JOINT_INDEX["neck"]}
_CHILDREN = {j: [c for c, p in enumerate(PARENTS) if p == j] for j in range(len(PARENTS))}


@dataclass
class Fidelity:
    armature: str
    direction_median: float  # degrees
    direction_p95: float
    reaching_median: float  # degrees, on limbs while they reach for a contact (nan where none does)
    worst_links: dict[str, float]  # "joint>joint" → p95 degrees, the three worst
    pelvis_ratio: np.ndarray  # [F] rig hip height over its floor / the clip's scaled
    planted_cm: np.ndarray  # [N] |planted ankle height - rest ankle height| (cm) over every planted frame
    head_median: float  # degrees between the rig head's up and the clip head's
    frames: int
    hand_gap_cm: float = float("nan")  # median |rig wrist-to-partner distance - the clip's, scaled| while touching

    def line(self) -> str:
        r = self.pelvis_ratio
        feet = f"{np.percentile(self.planted_cm, 95):.1f} cm p95, {self.planted_cm.max():.1f} max" if self.planted_cm.size else "none planted"
        worst = ", ".join(f"{k} {v:.0f}°" for k, v in self.worst_links.items())
        return (f"{self.armature:<17} directions {self.direction_median:4.1f}° median {self.direction_p95:5.1f}° p95 "
                f"(worst {worst}; reaching {self.reaching_median:.0f}° median); pelvis height ×{np.median(r):.3f} ({r.min():.3f}..{r.max():.3f}); planted feet {feet}; head {self.head_median:.0f}°; hands on the partner {self.hand_gap_cm:.1f} cm off")


def import_gltf(path: Path, scene: Any) -> Any:
    """The armature Blender's own glTF importer makes of ``path`` (default options), in ``scene``."""
    before = {o.name for o in bpy.data.objects}
    with bpy.context.temp_override(scene=scene):
        bpy.ops.import_scene.gltf(filepath=str(path))
    (armature,) = [o for o in bpy.data.objects if o.name not in before and o.type == "ARMATURE"]
    return armature


@contextlib.contextmanager
def bone_maps(maps: dict[str, BoneMap]) -> Iterator[None]:
    """Bake with these hand-written maps (armature name → map) instead of the name-based guess."""
    original = bake_module.bone_map_for
    bake_module.bone_map_for = lambda obj, reading=False: maps[obj.name] if obj.name in maps else original(obj, reading)  # type: ignore[assignment]
    try:
        yield
    finally:
        bake_module.bone_map_for = original  # type: ignore[assignment]


def _links(bone_map: BoneMap) -> list[tuple[str, str]]:
    """(joint, next mapped joint down its primary chain) for every mapped joint but the pelvis."""
    mapped = set(bone_map.bones) | set(bone_map.tail_joints)
    out = []
    for joint in mapped - {"pelvis", "root"}:
        k = JOINT_INDEX[joint]
        while _CHILDREN[k]:
            k = _PRIMARY.get(k, _CHILDREN[k][0])
            if JOINT_NAMES[k] in mapped:
                out.append((joint, JOINT_NAMES[k]))
                break
    return sorted(out)


def _foot_points(obj: Any, bone_map: BoneMap) -> list[str]:
    return [bone_map.bones[j] for j in ("left_ankle", "right_ankle", "left_foot", "right_foot") if j in bone_map.bones]


def standing_shift(obj: Any, bone_map: BoneMap) -> float:
    """How far above its rest feet the rig's feet stand as shown now (evaluated, world space): the lowest
    head or tail of its foot bones evaluated minus at rest."""
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    shown = min((evaluated.matrix_world @ getattr(evaluated.pose.bones[b], end)).z for b in _foot_points(obj, bone_map) for end in ("head", "tail"))
    rest = min((obj.matrix_world @ getattr(obj.data.bones[b], end)).z for b in _foot_points(obj, bone_map) for end in ("head_local", "tail_local"))
    return float(shown - rest)


def _rest_points(obj: Any, bone_map: BoneMap) -> tuple[dict[str, np.ndarray], float]:
    """World rest joints (heads; tails for tail joints) and the floor under the rest feet."""
    world = np.array(obj.matrix_world)
    bones = obj.data.bones

    def at(v: Any) -> np.ndarray:
        return np.asarray(world[:3, :3] @ np.array(v) + world[:3, 3])

    joints = {j: at(bones[b].head_local) for j, b in bone_map.bones.items()}
    joints |= {j: at(bones[b].tail_local) for j, b in bone_map.tail_joints.items()}
    feet = _foot_points(obj, bone_map)
    points = [at(bones[b].head_local) for b in feet] + [at(bones[b].tail_local) for b in feet]
    points += [joints[j] for j in ("left_ankle", "right_ankle")]
    return joints, float(min(p[2] for p in points))


def _evaluated_joints(obj: Any, scene: Any, frames: list[int], bone_map: BoneMap) -> dict[str, np.ndarray]:
    """World joints [F,3] by name, and under "head up" the world direction the head bone turns its rest up to."""
    heads = {j: np.zeros((len(frames), 3)) for j in [*bone_map.bones, *bone_map.tail_joints, "head up"]}
    head = obj.data.bones[bone_map.bones["head"]]
    rest_up = np.array(head.matrix_local.to_3x3().inverted()) @ (np.linalg.inv(np.array(obj.matrix_world)[:3, :3]) @ np.array([0.0, 0.0, 1.0]))
    for i, frame in enumerate(frames):
        scene.frame_set(frame)
        evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        world = evaluated.matrix_world
        heads["head up"][i] = np.array(world.to_3x3()) @ (np.array(evaluated.pose.bones[head.name].matrix.to_3x3()) @ rest_up)
        for joint, bone in bone_map.bones.items():
            heads[joint][i] = np.array(world @ evaluated.pose.bones[bone].head)
        for joint, bone in bone_map.tail_joints.items():
            heads[joint][i] = np.array(world @ evaluated.pose.bones[bone].tail)
    return heads


def _leg_length(joints: dict[str, np.ndarray], axis: int = -1) -> np.ndarray:
    total = 0.0
    for side in ("left", "right"):
        hip, knee, ankle = (joints[f"{side}_{n}"] for n in ("hip", "knee", "ankle"))
        total = total + np.linalg.norm(knee - hip, axis=axis) + np.linalg.norm(ankle - knee, axis=axis)
    return np.asarray(total) / 2.0


def _reaching(clip: Clip, person: int, keys: np.ndarray) -> dict[str, np.ndarray]:
    """Per limb joint, the frames [F] its limb reaches for a contact: a planted foot, a hand on the partner
    (and around them, as a reach eases in and out)."""
    from vendor_models.motion.contacts import contact_weights, hand_contacts

    fps = float(clip.fps)
    out = {}
    for side, channel in (("left", 0), ("right", 2)):
        planted = contact_weights(clip.contacts[:, person, channel], fps)[keys] > 0
        out |= {f"{side}_hip": planted, f"{side}_knee": planted}
    if clip.num_people == 2:
        model = clip.positions.astype(np.float64)
        wrists = (JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"])
        for side, touch in zip(("left", "right"), hand_contacts(model[:, person], model[:, 1 - person], wrists)):
            touching = contact_weights(touch.touching, fps)[keys] > 0
            out |= {f"{side}_shoulder": touching, f"{side}_elbow": touching}
    return out


def measure(obj: Any, scene: Any, clip: Clip, person: int, bone_map: BoneMap, frame_start: int, step: int = 2,
            shift: float = 0.0) -> Fidelity:
    """Fidelity of the bake of ``clip``'s ``person`` on ``obj`` that starts at scene frame ``frame_start``;
    ``shift``: its :func:`standing_shift` before the bake."""
    keys = np.arange(0, clip.num_frames, step)
    got = _evaluated_joints(obj, scene, (frame_start + keys).tolist(), bone_map)
    rest, floor = _rest_points(obj, bone_map)
    floor += shift
    positions = clip.positions[:, person].astype(np.float64)
    world_clip = model_to_blender(positions[keys])
    reaching = _reaching(clip, person, keys)
    angles, reached = {}, []
    for a, b in _links(bone_map):
        rig_dir = got[b] - got[a]
        clip_dir = world_clip[:, JOINT_INDEX[b]] - world_clip[:, JOINT_INDEX[a]]
        cos = np.sum(rig_dir * clip_dir, -1) / np.linalg.norm(rig_dir, axis=-1) / np.linalg.norm(clip_dir, axis=-1)
        angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        busy = reaching.get(a, np.zeros(len(keys), dtype=bool))
        angles[f"{a}>{b}"] = angle[~busy]
        reached.append(angle[busy])
    every = np.concatenate(list(angles.values()))
    reached_all = np.concatenate(reached)
    worst = dict(sorted(((k, float(np.percentile(v, 95))) for k, v in angles.items() if v.size), key=lambda kv: -kv[1])[:3])
    clip_joints = {j: positions[:, JOINT_INDEX[j]] for j in ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")}
    scale = float(_leg_length(rest)) / float(np.median(_leg_length(clip_joints)))
    rig_hips = (got["left_hip"][:, 2] + got["right_hip"][:, 2]) / 2.0 - floor
    clip_floor = np.percentile(positions[:, [JOINT_INDEX[j] for j in ("left_ankle", "right_ankle", "left_foot", "right_foot")], 1].min(axis=1), 5)
    clip_hips = scale * ((positions[keys, JOINT_INDEX["left_hip"], 1] + positions[keys, JOINT_INDEX["right_hip"], 1]) / 2.0 - clip_floor)
    planted = []
    for channel, ankle in ((0, "left_ankle"), (2, "right_ankle")):
        speed = np.linalg.norm(np.gradient(positions[:, JOINT_INDEX[ankle]], axis=0), axis=-1)
        on = (clip.contacts[:, person, channel] & (speed < STILL))[keys]
        planted.append(np.abs(got[ankle][on, 2] - rest[ankle][2] - shift) * 100.0)
    clip_up = clip_world_rotations(clip.rotations[keys, person])[:, JOINT_INDEX["head"]] @ model_to_blender(np.array([0.0, 1.0, 0.0]))
    rig_up = got["head up"] / np.linalg.norm(got["head up"], axis=-1, keepdims=True)
    head = np.degrees(np.arccos(np.clip(np.sum(rig_up * clip_up, -1), -1.0, 1.0)))
    return Fidelity(obj.name, float(np.median(every)), float(np.percentile(every, 95)),
                    float(np.median(reached_all)) if reached_all.size else float("nan"), worst,
                    rig_hips / clip_hips, np.concatenate(planted), float(np.median(head)), len(keys))


def _distance_to_bones(points: np.ndarray, body: dict[str, np.ndarray], links: list[tuple[str, str]]) -> np.ndarray:
    """Distance [F] from points [F,3] to the nearest of the bones (joint pairs) of a posed body."""
    best = np.full(len(points), np.inf)
    for a, b in links:
        span = body[b] - body[a]
        along = np.clip(np.sum((points - body[a]) * span, -1) / np.maximum(np.sum(span * span, -1), 1e-12), 0.0, 1.0)
        best = np.minimum(best, np.linalg.norm(points - body[a] - along[:, None] * span, axis=-1))
    return best


def _hand_gap(clip: Clip, scene: Any, armatures: list[Any], maps: dict[str, BoneMap], frame_start: int, step: int = 2) -> list[float]:
    """Per person, the median hand gap (cm) over the frames its wrists touch the partner in the clip."""
    from vendor_models.motion.contacts import hand_contacts

    keys = np.arange(0, clip.num_frames, step)
    bodies = [_evaluated_joints(obj, scene, (frame_start + keys).tolist(), maps[obj.name]) for obj in armatures]
    rests = [_rest_points(obj, maps[obj.name])[0] for obj in armatures]
    model = clip.positions.astype(np.float64)
    gaps = []
    for p in (0, 1):
        scale = float(_leg_length(rests[p])) / float(np.median(_leg_length({j: model[:, p, JOINT_INDEX[j]] for j in (
            "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")})))
        found = []
        for side, touch in zip(("left", "right"), hand_contacts(model[:, p], model[:, 1 - p], (JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]))):
            on = touch.touching[keys]
            rig = _distance_to_bones(bodies[p][f"{side}_wrist"], bodies[1 - p], _links(maps[armatures[1 - p].name]))
            found.append(np.abs(rig - scale * np.linalg.norm(touch.offset[keys], axis=-1))[on] * 100.0)
        every = np.concatenate(found)
        gaps.append(float(np.median(every)) if every.size else float("nan"))
    return gaps


def bake_and_measure(scene: Any, clip: Clip, armatures: list[Any], step: int = 2) -> list[Fidelity]:
    """Bake ``clip`` (one person per armature) and measure every armature, each mapped by the add-on alone."""
    maps = {obj.name: bone_map_for(obj) for obj in armatures}
    shifts = [standing_shift(obj, maps[obj.name]) for obj in armatures]
    report = bake_module.bake_clip(scene, clip, armatures, name="fidelity")
    out = [measure(obj, scene, clip, p, maps[obj.name], report.frame_start, step, shifts[p]) for p, obj in enumerate(armatures)]
    if len(armatures) == 2:
        for fidelity, gap in zip(out, _hand_gap(clip, scene, armatures, maps, report.frame_start, step)):
            fidelity.hand_gap_cm = gap
    return out


def real_pair(scene: Any, path: Path) -> list[Any]:
    """Two copies of a real third-party rig, side by side."""
    rigs = [import_gltf(path, scene) for _ in range(2)]
    for i, rig in enumerate(rigs):
        top = rig
        while top.parent is not None:
            top = top.parent
        top.location.x += 1.5 * i
    return rigs


def generated_clip(seconds: float = 6.0, seed: int = 1) -> Clip:
    """A pair the shipped model generates (torch; seconds on a CPU)."""
    from vendor_models.generation.generator import DEFAULT_CHECKPOINT, Generator
    from vendor_models.motion.protocol import SamplerSettings

    model = Generator.load(DEFAULT_CHECKPOINT, "cpu")
    return model.generate("two people dance salsa holding hands", seconds=seconds, sampler=SamplerSettings(seed=seed)).clips[0]


def main() -> None:
    from h4_scenes import fresh_scene, metarig, mixamo_apose_cm_rig, salsa_clip

    clips = {"salsa": salsa_clip(300, start=0), "generated": generated_clip()}
    for clip_name, clip in clips.items():
        for rig_name in ("robot", "cesium", "metarig", "mixamo"):
            scene = fresh_scene()
            if rig_name in ("robot", "cesium"):
                rigs = real_pair(scene, ROBOT if rig_name == "robot" else CESIUM_MAN)
            else:
                rigs = ([metarig(scene), metarig(scene)] if rig_name == "metarig"
                        else [mixamo_apose_cm_rig(scene, clip, p, f"Mixamo_{p}") for p in range(2)])
            for fidelity in bake_and_measure(scene, clip, rigs):
                print(f"{clip_name:<9} {rig_name:<8} {fidelity.line()}", flush=True)


if __name__ == "__main__":
    main()
