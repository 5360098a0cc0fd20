"""Any humanoid rig, as users bring it, baked faithfully: issue 14's proof, one matrix.

Every rig family the factory builds (Mixamo, UE4, UE5, Character Creator, Daz, SMPL, VRM, Rigify's
metarig), in T and A poses, with real or random bone names, under a scaled and rotated parent, with
IK-style feet (IK constraints too), without hand bones, in cartoon proportions, FBX (centimetres) and glTF
copies written by Blender's own exporters and read back through the add-on's rig import, and the two real
third-party rigs. Each gets a real CMU salsa pair and a pair the shipped model generates, after an action
of its own (the animator's take), and is measured through the depsgraph by :mod:`rig_fidelity`.

Each rig is baked once per clip and every assertion reads that bake. Random names are not crossed with
every option: ``test_rig_structure`` proves each family's random-named copy maps to its true map, so a
bake of it is the bake of the real-named rig; here a factory rig's map must be its true map too.
"""

# fake-bpy-module types pose, animation data and their members as Optional:
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import bpy
import numpy as np
import pytest
import rig_fidelity as rf
from h4_scenes import fresh_scene, salsa_clip
from rig_factory import BuiltRig, build_rig, export_copy

from intermask_blender.baking.keys import Channel, write_action
from intermask_blender.rigs.bonemap import bone_map_for
from intermask_blender.rigs.rig_specs import resolve_rig
from vendor_models.motion.clip_file import Clip

FRAMES = 90
FPS = 30
#: The animator's take each rig carries before the bake: every bone turns this far (radians) by frame 30.
TAKE_TURN = 0.6


def _factory(style: str, **options: Any) -> Callable[[], tuple[Any, list[Any]]]:
    def make() -> tuple[Any, list[Any]]:
        scene = fresh_scene(FPS)
        built = [build_rig(scene, style, seed=p, **options) for p in range(2)]
        return scene, [_checked_and_placed(b, p) for p, b in enumerate(built)]
    return make


def _checked_and_placed(built: BuiltRig, person: int) -> Any:
    """The rig, after checking the add-on maps it to its true map; the second one 1.5 m to the side."""
    bone_map = bone_map_for(built.armature)
    assert bone_map.bones == built.truth and set(bone_map.detached) == set(built.detached), built.armature.name
    assert bone_map.tail_joints == built.tail_joints, built.armature.name
    top = built.armature
    while top.parent is not None:
        top = top.parent
    top.location.x += 1.5 * person
    return built.armature


def _exported(style: str, kind: str, **options: Any) -> Callable[[], tuple[Any, list[Any]]]:
    """Two copies of a factory rig written by Blender's FBX (centimetres, from a 24 fps scene) or glTF
    exporter, read back through the add-on's rig import into a fresh scene."""
    def make() -> tuple[Any, list[Any]]:
        path = _export(style, kind, tuple(sorted(options.items())))
        scene = fresh_scene(FPS)
        rigs = [resolve_rig(str(path), scene, p) for p in range(2)]
        for p, rig in enumerate(rigs):
            top = rig
            while top.parent is not None:
                top = top.parent
            top.location.x += 1.5 * p
        return scene, rigs
    return make


@lru_cache(maxsize=4)
def _export(style: str, kind: str, options: tuple[tuple[str, Any], ...]) -> Path:
    path = Path(tempfile.mkdtemp(prefix="rig_matrix_")) / f"rig.{kind}"
    export_copy(fresh_scene(24), style, path, **dict(options))  # an import taking the file's rate shows in fps
    return path


def _real(path: Path) -> Callable[[], tuple[Any, list[Any]]]:
    def make() -> tuple[Any, list[Any]]:
        scene = fresh_scene(FPS)
        return scene, rf.real_pair(scene, path)
    return make


RIGS: dict[str, Callable[[], tuple[Any, list[Any]]]] = {
    "mixamo T": _factory("mixamo", pose="T"),
    "ue4 A IK feet+constraints": _factory("ue4", pose="A", ik_feet=True, ik_constraints=True),
    "ue5 T random": _factory("ue5", names="random"),
    "cc A": _factory("character_creator", pose="A", fingers=True),
    "daz T random": _factory("daz", names="random"),
    "smpl A parent": _factory("smpl", pose="A", parent=(0.01, (90.0, 0.0, 30.0))),
    "vrm T no hands random": _factory("vrm", names="random", hands=False),
    "rigify": _factory("rigify"),
    "mixamo cartoon IK feet random": _factory("mixamo", names="random", cartoon=True, ik_feet=True),
    "fbx cm ue5 A": _exported("ue5", "fbx", pose="A"),
    "glb daz no hands": _exported("daz", "glb", hands=False),
    "RobotExpressive": _real(rf.ROBOT),
    "CesiumMan": _real(rf.CESIUM_MAN),
}


@lru_cache(maxsize=2)
def _clip(kind: str) -> Clip:
    if kind == "salsa":
        return salsa_clip(FRAMES, start=90)  # dancing, the first dancer's feet planted and lifted
    return rf.generated_clip(seconds=FRAMES / FPS)  # 88 frames: the model makes whole 4-frame tokens


def _give_a_take(rig: Any) -> Any:
    """The animator's own action, unless the rig came with one: every bone turning from rest at frame 1."""
    if rig.animation_data is not None and rig.animation_data.action is not None:
        return rig.animation_data.action
    channels = []
    for bone in rig.pose.bones:
        turn = np.array([[1.0, np.cos(TAKE_TURN / 2)], [0.0, np.sin(TAKE_TURN / 2)], [0.0, 0.0], [0.0, 0.0]])  # w, x, y, z
        if bone.rotation_mode == "QUATERNION":
            channels += [Channel(f'pose.bones["{bone.name}"].rotation_quaternion', i, bone.name, turn[i]) for i in range(4)]
        elif bone.rotation_mode != "AXIS_ANGLE":
            channels.append(Channel(f'pose.bones["{bone.name}"].rotation_euler', 0, bone.name, np.array([0.0, TAKE_TURN])))
    return write_action(rig, f"{rig.name} take", np.array([1.0, 30.0]), channels)


def _pose_bases(rig: Any, scene: Any, frames: list[int]) -> np.ndarray:
    out = []
    for frame in frames:
        scene.frame_set(frame)
        evaluated = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
        out.append([np.array(b.matrix_basis) for b in evaluated.pose.bones])
    return np.array(out)


def _old_take_silent(rig: Any, scene: Any, take: Any, frames: list[int]) -> tuple[bool, float]:
    """(the take is on an NLA strip, how far (matrix units) it still moves any bone at ``frames``): the pose
    with the NLA evaluated against the active action alone."""
    adt = rig.animation_data
    kept = any(strip.action == take for track in adt.nla_tracks for strip in track.strips)
    with_nla = _pose_bases(rig, scene, frames)
    adt.use_nla = False
    try:
        alone = _pose_bases(rig, scene, frames)
    finally:
        adt.use_nla = True
    return kept, float(np.abs(with_nla - alone).max())


@dataclass
class Baked:
    fidelity: list[rf.Fidelity]
    fps: float  # the scene's after the rigs came in and were baked (it was FPS)
    take_kept: list[bool]
    take_motion: list[float]  # how far the old take still moves any bone


@cache
def _baked(rig_kind: str, clip_kind: str) -> Baked:
    clip = _clip(clip_kind)
    scene, rigs = RIGS[rig_kind]()
    takes = [_give_a_take(rig) for rig in rigs]
    scene.frame_set(1)
    fidelity = rf.bake_and_measure(scene, clip, rigs, step=3)
    checks = [_old_take_silent(rig, scene, take, [10, 30, 60]) for rig, take in zip(rigs, takes)]
    return Baked(fidelity, scene.render.fps / scene.render.fps_base, [k for k, _ in checks], [m for _, m in checks])


CASES = [(rig, clip) for rig in RIGS for clip in ("salsa", "generated")]
_SHOWN: set[tuple[str, str]] = set()


@pytest.fixture(params=CASES, ids=[f"{r}-{c}" for r, c in CASES])
def baked(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Baked:
    result = _baked(*request.param)
    if request.param not in _SHOWN:  # the numbers, once per bake
        _SHOWN.add(request.param)
        with capsys.disabled():
            for f in result.fidelity:
                print(f"\n{request.param[1]:<9} {request.param[0]:<30} {f.line()}", end="")
    return result


def test_limb_directions_follow_the_clip(baked: Baked) -> None:
    for f in baked.fidelity:
        assert f.direction_median < 6.0 and f.direction_p95 < 20.0, f.line()


def test_pelvis_height_over_the_rigs_floor_is_the_clips_scaled_by_leg_length(baked: Baked) -> None:
    for f in baked.fidelity:
        assert np.all(np.abs(f.pelvis_ratio - 1.0) < 0.15), f.line()


def test_planted_feet_stay_on_the_floor(baked: Baked) -> None:
    assert sum(f.planted_cm.size for f in baked.fidelity) > 10  # the clip plants feet (not every person does)
    for f in baked.fidelity:
        if f.planted_cm.size:
            assert np.percentile(f.planted_cm, 95) < 3.0, f.line()


def test_the_scenes_frame_rate_is_unchanged(baked: Baked) -> None:
    assert baked.fps == FPS


def test_the_old_action_is_kept_in_the_nla_and_moves_no_bone(baked: Baked) -> None:
    assert all(baked.take_kept)
    assert max(baked.take_motion) < 1e-6, baked.take_motion
