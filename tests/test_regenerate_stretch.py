"""Regenerate a stretch of two baked armatures through the real worker, as a background job driven the way
Blender's timer would: Regenerate returns at once, progress shows, Cancel works while the armatures are read
and while the worker runs; Apply's new actions copy every old key outside the stretch exactly, bake new
motion inside it, keep the old actions in the NLA (muted), and one undo step brings the old actions back."""

# fake-bpy-module types animation data and its members as Optional, knows no add-on properties and no
# legacy Action.fcurves; KeyedCurve's handles are Optional but read_curve always fills them:
# mypy: disable-error-code="union-attr,attr-defined,index,arg-type,return-value"

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import bpy
import numpy as np
import pytest
from h4_scenes import salsa_clip
from test_worker import MODEL_MISSING

from intermask_blender.baking import stretch
from intermask_blender.baking.bake import bake_clip
from intermask_blender.baking.keys import KeyedCurve, action_fcurves, read_curve
from intermask_blender.client import job
from intermask_blender.errors import UsageError
from intermask_blender.rigs.read_armature import READING_SCENE
from intermask_blender.rigs.rig_specs import resolve_rig

pytestmark = pytest.mark.timeout(300)
STRETCH = (31, 60)  # scene frames; the take is baked on frames 1-90
MOVED = 0.05  # a channel the edit changed moves by more than this inside the stretch (radians, metres)


def _baked_pair() -> tuple[bpy.types.Scene, list[bpy.types.Object]]:
    """The add-on enabled (CPU worker, 2 steps, seed 5), two mannequins with 3 s of real salsa baked on frames
    1-90 as the panel's Person A and B, keys thinned (so a re-bake could not reproduce them)."""
    import addon_utils  # Blender's own module, on the path once bpy is imported

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if "intermask_blender" not in bpy.context.preferences.addons:
        addon_utils.enable("intermask_blender", default_set=True)
    bpy.context.preferences.addons["intermask_blender"].preferences.device = "cpu"
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    people = [resolve_rig("mannequin", scene, 0), resolve_rig("mannequin", scene, 1)]
    bake_clip(scene, salsa_clip(90), people, name="salsa", frame_start=1, reduce_error=0.5)
    settings = scene.intermask
    settings.armature_a, settings.armature_b = people
    settings.seed, settings.own_sampler, settings.steps = 5, True, 2
    return scene, people


def _curves(obj: bpy.types.Object) -> dict[tuple[str, int], KeyedCurve]:
    return {(c.data_path, c.index): c for c in map(read_curve, action_fcurves(obj))}


def _outside(curve: KeyedCurve) -> np.ndarray:
    return (curve.co[:, 0] < STRETCH[0]) | (curve.co[:, 0] > STRETCH[1])


def test_a_stretch_outside_the_animation_or_without_two_rigs_is_refused() -> None:
    scene, people = _baked_pair()
    for rigs, frames, message in ((people, (80, 120), "not inside the animation (1-90)"),
                                  (people, (50, 40), "is empty"), (people[:1], STRETCH, "two people's armatures")):
        with pytest.raises(UsageError, match=re.escape(message)):
            stretch.read_people(scene, rigs, frames)
    assert stretch.read_people(scene, people, STRETCH).clip_frames(STRETCH) == (30, 59)
    scene.intermask.prompt = ""
    with pytest.raises(RuntimeError, match="its prompt, or the panel's, is empty"):  # the operator's report
        bpy.ops.intermask.regenerate_stretch()
    assert scene.intermask.status_is_error
    assert all(obj.animation_data.action.name.startswith("salsa") for obj in people)
    scene.render.fps = 60  # scene frames at 60 fps are half a clip frame each
    assert stretch.read_people(scene, people, STRETCH).clip_frames(STRETCH) == (15, 30)


def _pump(scene: bpy.types.Scene, until=lambda: not job.busy(), timeout: float = 240.0) -> list[tuple[str, float]]:
    """Call the job's timer callback as Blender would (at the interval it asks for) until ``until``; the
    status and progress the panel showed after each tick."""
    shown = []
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, f"the job did not get there: {scene.intermask.status}"
        interval = job.tick()
        shown.append((scene.intermask.status, scene.intermask.progress))
        time.sleep(min(interval or 0.0, job.TICK_INTERVAL))
    return shown


def _regenerate(scene: bpy.types.Scene, people: list[bpy.types.Object]) -> None:
    """Press Regenerate: it must return at once, the armatures not even read yet and the scene untouched."""
    actions = [obj.animation_data.action.name for obj in people]
    assert bpy.ops.intermask.regenerate_stretch() == {"FINISHED"}, scene.intermask.status
    assert job.busy() and job._State.job.prepare is not None and len(scene.intermask.results) == 0
    assert [obj.animation_data.action.name for obj in people] == actions


@pytest.mark.skipif(bool(MODEL_MISSING), reason=str(MODEL_MISSING))
@pytest.mark.parametrize("person", ["both", "a"])
def test_regenerating_a_stretch_keeps_every_old_key_outside_it_and_undo_brings_the_old_actions_back(person: str) -> None:
    scene, people = _baked_pair()
    before = [_curves(obj) for obj in people]
    old_actions = [obj.animation_data.action for obj in people]
    names = [(obj.name, action.name) for obj, action in zip(people, old_actions)]  # undo frees the Python refs
    wanted = scene.intermask_stretch
    wanted.frame_first, wanted.frame_last, wanted.prompt, wanted.person = *STRETCH, "spin", person
    try:
        _regenerate(scene, people)
        shown = _pump(scene)
        reading = [progress for status, progress in shown if status.startswith("Reading the armatures")]
        assert reading and reading == sorted(reading) and 0 < reading[0] < reading[-1] < 1, shown
        assert ("Reading the armatures 180/180", 0.98) in [(s, round(p, 2)) for s, p in shown]  # 90 frames each
        # (the worker's own progress lines go through the same job path as Generate's, tested in
        # test_addon_job_status; two steps on a loaded worker can all arrive within one tick here)
        # no tick does the job's work at once (reading all frames took seconds); slices aim at 20 ms, and the
        # bound leaves room for a loaded machine: this checks the structure, the GUI run measures the time
        assert job.stats().longest < 0.25, job.stats()
        settings = scene.intermask
        assert settings.status.startswith("The stretch ready in") and not settings.status_is_error, settings.status
        assert settings.result_mode == "EDIT" and len(settings.results) == 1
        assert [obj.animation_data.action for obj in people] == old_actions, "only Apply writes"
        # the panel moves on meanwhile: Apply writes what the job was started for
        wanted.frame_first, wanted.frame_last, wanted.person = 1, 10, "b"
        bpy.ops.ed.undo_push(message="before the stretch")
        assert bpy.ops.intermask.apply("EXEC_DEFAULT", True) == {"FINISHED"}, settings.status
        assert settings.status.startswith("Regenerated frames 31-60 → spin 31-60 - "), settings.status
        for slot, (obj, old_action, old) in enumerate(zip(people, old_actions, before)):
            adt = obj.animation_data
            if person == "a" and slot == 1:  # the kept person keeps its action as it was
                assert adt.action == old_action and not adt.nla_tracks
                continue
            assert adt.action is not old_action and adt.action.name == f"spin 31-60 - {obj.name}"
            strips = [strip for track in adt.nla_tracks for strip in track.strips]
            assert [s.action for s in strips] == [old_action] and strips[0].mute
            new = _curves(obj)
            assert set(old) <= set(new)
            changed = 0
            for key, was in old.items():
                now = new[key]
                out_old, out_new = _outside(was), _outside(now)
                assert out_old.any() and np.array_equal(was.co[out_old], now.co[out_new]), key
                assert np.array_equal(was.interpolation[out_old], now.interpolation[out_new])
                for side in (0, 1):
                    assert np.array_equal(was.handles[side][out_old], now.handles[side][out_new])
                    assert np.array_equal(was.types[side][out_old], now.types[side][out_new])
                inside = now.co[~_outside(now)]
                assert np.array_equal(inside[:, 0], np.arange(STRETCH[0], STRETCH[1] + 1))  # baked every frame
                fcurve = next(f for f in _fcurves_of(old_action) if (f.data_path, f.array_index) == key)
                was_inside = np.array([fcurve.evaluate(f) for f in inside[:, 0]])
                changed += np.abs(inside[:, 1] - was_inside).max() > MOVED
            assert changed > len(old) // 4, f"{obj.name}: only {changed} of {len(old)} channels changed inside"
            print(f"{obj.name}: {changed} of {len(old)} channels changed inside the stretch")
        assert bpy.ops.ed.undo() == {"FINISHED"}
        for name, old_action in names:
            obj = bpy.data.objects[name]
            assert obj.animation_data.action.name == old_action and not obj.animation_data.nla_tracks
            assert f"spin 31-60 - {name}" not in bpy.data.actions
    finally:
        job.shutdown()


@pytest.mark.skipif(bool(MODEL_MISSING), reason=str(MODEL_MISSING))
def test_regenerate_cancels_while_reading_or_in_the_worker_and_apply_refuses_a_deleted_armature() -> None:
    scene, people = _baked_pair()
    wanted = scene.intermask_stretch
    wanted.frame_first, wanted.frame_last, wanted.prompt = *STRETCH, "spin"
    actions = sorted(action.name for action in bpy.data.actions)
    try:
        for phase, started in (("reading", lambda: True), ("worker", lambda: job._State.job.prepare is None)):
            _regenerate(scene, people)
            folder = Path(job._State.job.out_dir)
            job.tick()
            _pump(scene, until=started)
            assert job.busy(), phase
            assert bpy.ops.intermask.cancel() == {"FINISHED"}
            _pump(scene, timeout=30)
            settings = scene.intermask
            assert settings.status.startswith("Cancelled") and not settings.status_is_error, (phase, settings.status)
            assert len(settings.results) == 0 and not folder.exists(), phase
            assert READING_SCENE not in [s.name[:len(READING_SCENE)] for s in bpy.data.scenes], phase
            assert sorted(action.name for action in bpy.data.actions) == actions, phase
        worker = job._State.client
        _regenerate(scene, people)
        _pump(scene)
        assert scene.intermask.result_mode == "EDIT", scene.intermask.status
        assert worker is not None and job._State.client is worker, "every job is answered by the shared worker"
        kept, gone = people[0].animation_data.action.name, people[1].name
        bpy.data.objects.remove(people[1])
        with pytest.raises(RuntimeError, match=re.escape(f"'{gone}', whose stretch was regenerated, is no longer")):
            bpy.ops.intermask.apply()
        assert scene.intermask.status_is_error and bpy.data.objects[people[0].name].animation_data.action.name == kept
    finally:
        job.shutdown()


def _fcurves_of(action: bpy.types.Action) -> list:
    """The F-curves of an action a bake wrote (one slot), assigned or not."""
    if not hasattr(action, "layers"):
        return list(action.fcurves)
    return [fc for bag in action.layers[0].strips[0].channelbags for fc in bag.fcurves]
