"""The add-on in real headless Blender (bpy 5.0 as a module), driving the real worker process.

``bpy.app.timers`` never fire in bpy-as-a-module (there is no event loop), so the tests call the timer
callback :func:`intermask_blender.client.job.tick` themselves, at the timer's interval, exactly as Blender would.
Undo works headless: memfile undo steps are pushed by ``bpy.ops.ed.undo_push`` and by operators called
with ``undo=True``, and ``bpy.ops.ed.undo()`` restores them.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import time
from pathlib import Path

import bpy  # first: it puts Blender's own modules (addon_utils, mathutils) on the path
import addon_utils  # noqa: I001
import numpy as np
import pytest
from mathutils import Vector

from intermask_blender.baking import preview_figures as preview
from intermask_blender.client import deps, job
from intermask_blender.seam import clip_file as clipmod
from intermask_blender.ui import preferences

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "cmu"
DEFAULT_CHECKPOINT = REPO / "vendor_models" / "checkpoints" / "default"
#: Until the shipped model lands, an interim checkpoint folder can be named here.
CHECKPOINT = Path(os.environ.get("INTERMASK_TEST_CHECKPOINT", DEFAULT_CHECKPOINT))
#: A model is complete once its transformer is there (the VQ-VAE ships first).
needs_model = pytest.mark.skipif(not (CHECKPOINT / "transformer.pt").is_file(), reason=f"no model at {CHECKPOINT}")
PROMPT = "two people dance salsa together"

pytestmark = pytest.mark.timeout(300)


def prefs():
    """The add-on's preferences, fetched fresh: factory resets and re-enabling replace the old struct."""
    return bpy.context.preferences.addons["intermask_blender"].preferences


@pytest.fixture
def scene():
    """An empty scene with the add-on enabled, a short clip asked for, the CPU worker and the test model."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if "intermask_blender" not in bpy.context.preferences.addons:
        addon_utils.enable("intermask_blender", default_set=True)
    prefs().device = "cpu"
    if CHECKPOINT != DEFAULT_CHECKPOINT:
        prefs().checkpoint = str(CHECKPOINT)
    settings = bpy.context.scene.intermask
    settings.prompt, settings.seconds, settings.seed, settings.own_sampler, settings.steps = PROMPT, 2.0, 1, True, 4
    yield bpy.context.scene
    job.shutdown()


def run_job(timeout: float = 240.0) -> None:
    """Call the timer callback like Blender would until the job ends."""
    deadline = time.monotonic() + timeout
    while job.busy():
        assert time.monotonic() < deadline, "the job did not finish"
        job.tick()
        time.sleep(job.TICK_INTERVAL)


def state(_scene: bpy.types.Scene) -> dict[str, list[str]]:
    """Everything a job or an undo could add to the file."""
    return {kind: sorted(item.name for item in getattr(bpy.data, kind))
            for kind in ("objects", "actions", "armatures", "meshes", "collections")}


def test_import_needs_neither_bpy_nor_torch() -> None:
    code = ("import sys, intermask_blender; bad = [m for m in sys.modules if m.split('.')[0] in ('bpy', 'torch')];"
            " print(bad)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_register_unregister_twice_cleanly() -> None:
    name = "intermask_blender"
    for _ in range(2):
        addon_utils.enable(name, default_set=True)
        assert hasattr(bpy.types.Scene, "intermask") and hasattr(bpy.types.Armature, "intermask_bone_map")
        assert bpy.ops.intermask.generate.poll() is not None
        assert job._on_load_pre in bpy.app.handlers.load_pre
        addon_utils.disable(name, default_set=True)
        assert not hasattr(bpy.types.Scene, "intermask")
        assert not hasattr(bpy.types.Armature, "intermask_bone_map")
        assert "INTERMASK_OT_generate" not in dir(bpy.types)
        assert job._on_load_pre not in bpy.app.handlers.load_pre


def test_prompt_from_a_text_one_line_per_person(scene) -> None:
    from intermask_blender.ui.properties import prompts_of

    settings = scene.intermask
    text = bpy.data.texts.new("prompt")
    text.from_string("he leads a salsa turn\n\nshe spins under his arm\n")
    settings.prompt_text = text
    assert prompts_of(settings) == ("he leads a salsa turn she spins under his arm", [])
    settings.per_person_lines = True
    assert prompts_of(settings)[1] == ["he leads a salsa turn", "she spins under his arm"]
    text.from_string("only one line")
    with pytest.raises(ValueError, match="two non-empty lines in the text 'prompt'"):
        prompts_of(settings)


def test_bad_input_is_a_report_and_a_status_line(scene) -> None:
    settings = scene.intermask
    settings.prompt = "   "
    with pytest.raises(RuntimeError, match="prompt is empty"):
        bpy.ops.intermask.generate()
    assert settings.status_is_error and "prompt is empty" in settings.status
    settings.prompt, settings.mode = PROMPT, "REACT"
    with pytest.raises(RuntimeError, match="active object"):
        bpy.ops.intermask.generate()
    settings.mode = "GENERATE"
    prefs().python_mode, prefs().python_path = "custom", "/nonexistent/python3"
    try:
        with pytest.raises(RuntimeError, match="/nonexistent/python3"):
            bpy.ops.intermask.generate()
    finally:
        prefs().python_mode, prefs().python_path = "auto", ""
    assert not job.busy()


def test_install_dependencies_respects_online_access(scene) -> None:
    assert bpy.app.online_access is False  # bpy as a module starts offline
    with pytest.raises(RuntimeError, match="Online access is off"):
        bpy.ops.intermask.install_dependencies()
    assert not (preferences.env_dir() / deps.STAMP_NAME).exists()


def test_check_button_reports_interpreter_torch_and_device(scene) -> None:
    assert bpy.ops.intermask.check_worker() == {"FINISHED"}
    deadline = time.monotonic() + 120
    while preferences._poll_tasks() is not None:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    torch_version = importlib.metadata.version("torch")
    assert preferences._Tasks.check_result == (
        f"Python {sys.version.split()[0]} · torch {torch_version} · device cpu"), preferences._Tasks.check_result


@pytest.fixture(scope="module")
def salsa_variations(tmp_path_factory) -> list[str]:
    """Two 3-second windows of the real CMU salsa pair 60_01/61_01, as a finished job would leave them."""
    folder = tmp_path_factory.mktemp("salsa")
    done = subprocess.run([sys.executable, "-m", "vendor_models", "data", "convert", str(DATA / "bvh_daz/01.bvh"),
                           str(DATA / "bvh_daz/16.bvh"), "--out", str(folder / "pair.npz")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pair = clipmod.Clip.load(folder / "pair.npz")
    paths = []
    for number, first in enumerate((30, 300), start=1):
        window = slice(first, first + 90)
        part = clipmod.Clip(pair.positions[window], pair.rotations[window], pair.contacts[window], pair.fps, pair.meta)
        paths.append(str(part.save(folder / f"variation_{number}.npz")))
    return paths


def finished_job(scene, paths: list[str], prompt: str = PROMPT) -> None:
    """The state a successful job leaves in the scene (what job.tick writes on a result)."""
    settings = scene.intermask
    settings.results.clear()
    for path in paths:
        settings.results.add().name = path
    settings.result_mode, settings.result_prompt, settings.variation = "GENERATE", prompt, 1


def test_apply_bakes_actions_and_one_undo_step_restores_the_scene(scene, salsa_variations) -> None:
    finished_job(scene, salsa_variations)
    before = state(scene)
    bpy.ops.ed.undo_push(message="before apply")
    assert bpy.ops.intermask.apply("EXEC_DEFAULT", True) == {"FINISHED"}
    after = state(scene)
    new_actions = set(after["actions"]) - set(before["actions"])
    assert len(new_actions) == 2 and all(name.startswith(PROMPT) for name in new_actions), new_actions
    rigs = [obj for obj in scene.objects if obj.type == "ARMATURE"]
    assert len(rigs) == 2 and all(obj.animation_data and obj.animation_data.action for obj in rigs)
    assert scene.intermask.status.startswith("Applied variation 1: 72 frames")  # 90 frames at 30 fps → 24 fps

    assert bpy.ops.ed.undo() == {"FINISHED"}
    assert state(bpy.context.scene) == before


def test_apply_again_reuses_the_rigs_and_keeps_the_first_take_in_nla(scene, salsa_variations) -> None:
    finished_job(scene, salsa_variations)
    bpy.ops.intermask.apply()
    first = {obj.name: obj.animation_data.action.name for obj in scene.objects if obj.type == "ARMATURE"}
    assert scene.intermask.armature_a.name in first and scene.intermask.armature_b.name in first
    scene.intermask.variation = 2
    bpy.ops.intermask.apply()
    rigs = [obj for obj in scene.objects if obj.type == "ARMATURE"]
    assert sorted(obj.name for obj in rigs) == sorted(first), "the second Apply must not build new mannequins"
    for obj in rigs:
        assert obj.animation_data.action.name != first[obj.name]
        assert first[obj.name] in [s.action.name for t in obj.animation_data.nla_tracks for s in t.strips]


def test_apply_onto_an_unmappable_rig_names_the_bones_and_changes_nothing(scene, salsa_variations) -> None:
    data = bpy.data.armatures.new("Crane")
    rig = bpy.data.objects.new("Crane", data)
    scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    for name, tail in (("boom", (0, 0, 1)), ("hook", (0, 1, 1))):
        bone = data.edit_bones.new(name)
        bone.head, bone.tail = (0, 0, 0), tail
    bpy.ops.object.mode_set(mode="OBJECT")
    finished_job(scene, salsa_variations)
    scene.intermask.armature_a = rig
    before = state(scene)
    with pytest.raises(RuntimeError, match="armature 'Crane' cannot be retargeted: no bone found for pelvis"):
        bpy.ops.intermask.apply()
    assert scene.intermask.status_is_error
    assert state(scene) == before, "a failed Apply must not leave a half-built scene"


def test_preview_shows_the_clip_joints_and_apply_removes_it(scene, salsa_variations) -> None:
    from intermask_blender.seam import skeleton

    finished_job(scene, salsa_variations)
    scene.render.fps = 30
    before = state(scene)
    scene.intermask.variation = 2
    assert bpy.ops.intermask.preview() == {"FINISHED"}
    figures = sorted(bpy.data.collections[preview.COLLECTION].objects, key=lambda o: o.name)
    assert [o.name for o in figures] == ["IM_Preview_A", "IM_Preview_B"]
    scene.frame_set(scene.frame_current + 10)
    clip = clipmod.Clip.load(salsa_variations[1])
    for person, figure in enumerate(figures):
        for joint in ("pelvis", "left_wrist", "right_ankle"):
            bone = figure.pose.bones[joint]
            expected = skeleton.model_to_blender(clip.positions[10, person, skeleton.JOINT_INDEX[joint]])
            assert (figure.matrix_world @ bone.head - Vector(expected)).length < 1e-4
        limb = figure.pose.bones["limb_left_knee"]  # spans left_hip → left_knee
        assert (limb.tail - figure.pose.bones["left_knee"].head).length < 1e-4
    assert bpy.ops.intermask.discard_preview() == {"FINISHED"}
    assert state(scene) == before, "discarding the preview must leave nothing behind"
    bpy.ops.intermask.preview()
    bpy.ops.intermask.apply()
    assert preview.COLLECTION not in bpy.data.collections
    assert not [name for name in bpy.data.actions.keys() if name.startswith(preview.PREFIX)]


def test_react_reads_the_active_animated_armature_as_the_partner(scene, salsa_variations, tmp_path) -> None:
    from intermask_blender.rigs.action_pose import FRAMES_PER_CHUNK, ActionPoseSampler
    from intermask_blender.rigs.read_armature import READING_SCENE
    from intermask_blender.seam import skeleton
    from intermask_blender.ui.operators import PartnerReading, active_partner

    scene.render.fps = 30
    finished_job(scene, salsa_variations)
    bpy.ops.intermask.apply()
    person_a = scene.intermask.armature_a
    bpy.context.view_layer.objects.active = person_a
    scene.frame_set(7)
    reading = PartnerReading(active_partner(bpy.context), scene, tmp_path / "partner.npz")
    slices = []
    assert isinstance(reading.reading.sampler, ActionPoseSampler), "an action-only rig is read from its F-curves"
    while not slices or slices[-1] < 1.0:  # as the timer does it: the least work per call
        slices.append(reading.step(0.0))
        assert scene.frame_current == 7 and READING_SCENE not in bpy.data.scenes
    reading.close()
    chunks = -(-90 // FRAMES_PER_CHUNK)
    assert len(slices) == chunks + 2 and reading.status == "Reading the partner 90/90"  # + conversion, + file
    assert scene.frame_current == 7 and READING_SCENE not in bpy.data.scenes, "the animator's scene is untouched"
    assert reading.first == int(person_a.animation_data.action.frame_range[0])
    partner = clipmod.Clip.load(reading.path)
    original = clipmod.Clip.load(salsa_variations[0]).person(0)
    assert partner.num_people == 1 and partner.num_frames == original.num_frames == 90
    # The bake keeps the clip's limb directions on the mannequin's own proportions and puts its hips on the
    # clip's hips (the pelvis bone sits where the mannequin's own pelvis is), so that is what reads back:
    # the hips' path, the planted feet, and every limb's direction.
    J = skeleton.JOINT_INDEX

    def hips(clip: clipmod.Clip) -> np.ndarray:
        return clip.positions[:, 0, [J["left_hip"], J["right_hip"]]].mean(axis=1)

    def direction(clip: clipmod.Clip, a: str, b: str) -> np.ndarray:
        v = clip.positions[:, 0, J[b]] - clip.positions[:, 0, J[a]]
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    assert np.median(np.linalg.norm(hips(partner) - hips(original), axis=-1)) < 1e-3
    for joint in ("left_ankle", "right_ankle"):
        assert np.median(np.linalg.norm(partner.positions[:, 0, J[joint]] - original.positions[:, 0, J[joint]], axis=-1)) < 0.03
    for a, b in (("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
                 ("right_elbow", "right_wrist"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
                 ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("spine3", "neck")):
        cosine = (direction(partner, a, b) * direction(original, a, b)).sum(-1)
        angle = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))  # the legs bend a little where feet are pinned
        assert np.median(angle) < 1.0 and np.percentile(angle, 95) < 5.0, (a, b, np.median(angle), np.percentile(angle, 95))


def test_bone_map_override_buttons_store_and_clear_on_the_armature(scene) -> None:
    from intermask_blender.rigs import bonemap
    from intermask_blender.rigs import rig_specs as rigs

    rig = rigs.resolve_rig("mannequin", scene, 0)
    assert bonemap.bone_map_for(rig).bones["left_wrist"] == "left_wrist"
    for joint in ("left_wrist", "right_wrist"):  # the animator edits the hands in the table
        bpy.ops.intermask.bonemap_override(armature=rig.name, joint=joint)
    items = {item.joint: item for item in rig.data.intermask_bone_map}
    assert items["left_wrist"].bone == "left_wrist", "an override starts from the guessed bone"
    items["left_wrist"].bone, items["right_wrist"].bone = "right_wrist", "left_wrist"
    with pytest.raises(bonemap.BoneMapError, match="left_wrist 'right_wrist' hangs under right_elbow"):
        bonemap.bone_map_for(rig)  # every map is checked: swapped hands are refused, not baked
    items["left_wrist"].bone, items["right_wrist"].bone = "left_wrist", "right_wrist"
    mapped = bonemap.bone_map_for(rig)
    assert mapped.bones["left_wrist"] == "left_wrist" and mapped.overridden == ("left_wrist", "right_wrist")
    for joint in ("left_wrist", "right_wrist"):
        bpy.ops.intermask.bonemap_clear(armature=rig.name, joint=joint)
    assert len(rig.data.intermask_bone_map) == 0 and bonemap.bone_map_for(rig).bones["left_wrist"] == "left_wrist"
    with pytest.raises(RuntimeError, match="'Nope' is not an armature"):
        bpy.ops.intermask.bonemap_override(armature="Nope", joint="pelvis")


def test_randomise_seed_changes_the_seed(scene) -> None:
    seeds = set()
    for _ in range(3):
        bpy.ops.intermask.randomise_seed()
        seeds.add(scene.intermask.seed)
    assert len(seeds) == 3 and all(seed >= 0 for seed in seeds)


def test_a_second_generate_while_one_runs_is_refused(scene) -> None:
    assert bpy.ops.intermask.generate() == {"FINISHED"}
    try:
        assert job.busy()
        with pytest.raises(RuntimeError, match="already running"):
            bpy.ops.intermask.generate()
    finally:
        job.shutdown()
    assert not job.busy()


def test_crashed_worker_is_reported_and_the_scene_untouched(scene) -> None:
    settings = scene.intermask
    before = state(scene)
    bpy.ops.intermask.generate()
    folder = Path(job._State.job.out_dir)
    job._State.client._proc.kill()  # the worker dies mid-job
    run_job(timeout=30)
    assert settings.status_is_error and "worker crashed" in settings.status, settings.status
    assert len(settings.results) == 0 and state(scene) == before
    assert folder.name.startswith("intermask_") and not folder.exists(), "a failed job leaves no temporary files"


@needs_model
def test_generate_poll_apply_with_the_real_model(scene) -> None:
    settings = scene.intermask
    before = state(scene)
    assert bpy.ops.intermask.generate() == {"FINISHED"}
    run_job()
    assert not settings.status_is_error, settings.status
    assert len(settings.results) == 1 and Path(settings.results[0].name).is_file()
    assert state(scene) == before, "generating must not touch the scene"
    assert job.stats().ticks > 0 and job.stats().longest < 0.05, job.stats()
    assert bpy.ops.intermask.apply() == {"FINISHED"}
    assert len(set(state(scene)["actions"]) - set(before["actions"])) == 2
    first_files = Path(settings.results[0].name).parent
    assert bpy.ops.intermask.generate() == {"FINISHED"}, "after a crash or a job, the next job starts"
    run_job()
    assert not settings.status_is_error, settings.status
    assert Path(settings.results[0].name).is_file() and not first_files.exists(), "replaced results are deleted"
    assert bpy.ops.intermask.unload() == {"FINISHED"} and settings.status == "Model unloaded"


@needs_model
def test_cancel_leaves_the_scene_untouched(scene) -> None:
    settings = scene.intermask
    settings.seconds, settings.steps, settings.variations = 10.0, 60, 8
    before = state(scene)
    bpy.ops.intermask.generate()
    folder = Path(job._State.job.out_dir)
    job.tick()
    assert bpy.ops.intermask.cancel() == {"FINISHED"}
    run_job(timeout=30)
    assert settings.status.startswith("Cancelled"), settings.status
    assert len(settings.results) == 0 and not folder.exists()
    assert state(scene) == before


@needs_model
def test_react_keeps_the_partner_and_animates_person_b(scene, salsa_variations) -> None:
    settings = scene.intermask
    finished_job(scene, salsa_variations)
    bpy.ops.intermask.apply()
    partner, other = sorted((obj for obj in scene.objects if obj.type == "ARMATURE"), key=lambda o: o.name)
    partner_action, other_action = partner.animation_data.action, other.animation_data.action
    settings.mode, settings.prompt = "REACT", "the follow holds the lead's hand and spins clockwise"
    settings.armature_b = other
    other.location.x += 5.0  # B's rig stands elsewhere: the reaction must still land next to the partner
    bpy.context.view_layer.objects.active = partner
    bpy.ops.intermask.generate()
    run_job()
    assert not settings.status_is_error and len(settings.results) == 1, settings.status
    bpy.ops.intermask.apply()
    scene.frame_set(int(partner_action.frame_range[0]))
    pelvis = [(rig.matrix_world @ rig.pose.bones["pelvis"].head).xy for rig in (partner, other)]
    assert (pelvis[0] - pelvis[1]).length < 3.0, "B is placed in the partner's frame, not at its own rig"
    assert partner.animation_data.action == partner_action, "the partner's animation must stay as it was"
    assert other.animation_data.action != other_action
    assert other_action.name in [s.action.name for t in other.animation_data.nla_tracks for s in t.strips]
    assert other.animation_data.action.frame_range[0] == partner_action.frame_range[0], "B starts with the partner"


_QUIT = r"""
import sys, time, bpy, addon_utils
addon_utils.enable("intermask_blender", default_set=True)
from intermask_blender.client import job; from intermask_blender.ui import preferences
config = preferences.worker_config(bpy.context)
client = job._client_for(config)
client.start()
print("PID", client.pid, flush=True)
"""


def test_quitting_leaves_no_worker_behind() -> None:
    done = subprocess.run([sys.executable, "-c", _QUIT], capture_output=True, text=True, timeout=120)
    pid = int(next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("PID")))
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), f"worker {pid} outlived Blender"
