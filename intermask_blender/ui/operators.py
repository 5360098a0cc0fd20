"""The panel's buttons. Every failure ends as an operator report plus the status line, never a traceback.

Generate only starts a job (the scene is not touched until Apply); Apply is the one operator that
changes the scene, and it does so as a single undo step.
"""

# fake-bpy-module types every context member as Optional and RNA collections as unions of all ID types:
# mypy: disable-error-code="union-attr,override,attr-defined,assignment"

from __future__ import annotations

import random
from pathlib import Path
from typing import cast

import bpy

from ..baking import preview_figures as preview
from ..baking import results, stretch
from ..client import job
from ..errors import USER_ERRORS, UsageError
from ..rigs.read_armature import ArmatureReading, partner_window
from ..seam import clip_file as clipmod
from ..seam import protocol
from . import preferences, properties


def _scene(context: bpy.types.Context) -> bpy.types.Scene:
    """The operator's scene: never None while an operator runs, whatever the type stubs say."""
    return cast(bpy.types.Scene, context.scene)


def _fail(op: bpy.types.Operator, settings: bpy.types.PropertyGroup, message: str) -> set[str]:
    settings.status = message
    settings.status_is_error = True
    op.report({"ERROR"}, message)
    return {"CANCELLED"}


class PartnerReading:
    """React's preparation (see :class:`job.Preparation`): the partner's animation read a few frames per
    timer tick, then saved as the one-person clip file the request names."""

    def __init__(self, partner: bpy.types.Object, scene: bpy.types.Scene, path: Path) -> None:
        self.first, last = partner_window(partner, scene)
        self.reading = ArmatureReading(partner, scene, self.first, last)
        self.path = path
        self.status = "Reading the partner…"
        self._clip: clipmod.Clip | None = None

    def step(self, budget_s: float) -> float:
        """Frames first, about ``budget_s`` a slice; then the clip's conversion and its file, a tick each
        (each costs about as much as a slice of frames)."""
        done, total = self.reading.progress
        if done < total:
            self.reading.sample(budget_s)
            done, total = self.reading.progress
            self.status = f"Reading the partner {done}/{total}"
            return 0.98 * done / total
        if self._clip is None:
            self._clip = self.reading.clip()
            return 0.99
        self._clip.save(self.path)
        return 1.0

    def close(self) -> None:
        self.reading.close()


def active_partner(context: bpy.types.Context) -> bpy.types.Object:
    """React's person A: the active object, which must be an armature."""
    partner = context.active_object
    if partner is None or partner.type != "ARMATURE":
        raise UsageError("React needs the animated partner armature to be the active object")
    return partner


class INTERMASK_OT_generate(bpy.types.Operator):
    """Generate motion in the background; the scene stays untouched until Apply"""

    bl_idname = "intermask.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.intermask
        if job.busy():
            return _fail(self, settings, "A job is already running: wait for it or press Cancel")
        out_dir: Path | None = None
        reading: PartnerReading | None = None
        try:
            prompt, prompts = properties.prompts_of(settings)
            if not prompt:
                raise UsageError("The prompt is empty: describe what the two people do")
            config = preferences.worker_config(context)
            out_dir = job.new_job_folder()
            partner = ""
            if settings.mode == "REACT":  # read across timer ticks: a long or heavy rig would stall the UI
                armature = active_partner(context)
                partner = armature.name
                reading = PartnerReading(armature, _scene(context), out_dir / "partner.npz")
            request = protocol.job_request(prompt, properties.sampler_settings(settings), str(out_dir),
                                           prompts=prompts, seconds=settings.seconds,
                                           partner=str(reading.path) if reading else "")
            job.start(_scene(context), request, config, partner=partner,
                      first_frame=reading.first if reading else 0, prepare=reading)
        except USER_ERRORS as exc:
            if reading is not None:
                reading.close()
            job.discard_folder(out_dir)
            return _fail(self, settings, str(exc))
        self.report({"INFO"}, f"InterMask: generating '{prompt}'")
        return {"FINISHED"}


class INTERMASK_OT_cancel(bpy.types.Operator):
    """Stop the running job; the scene is left as it was"""

    bl_idname = "intermask.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return job.busy()

    def execute(self, context: bpy.types.Context) -> set[str]:
        job.cancel()
        context.scene.intermask.status = "Cancelling…"
        return {"FINISHED"}


class INTERMASK_OT_apply(bpy.types.Operator):
    """Bake the chosen variation (empty slots get the mannequin) or regenerated stretch; one undo step reverts it"""

    bl_idname = "intermask.apply"
    bl_label = "Apply"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not job.busy() and len(context.scene.intermask.results) > 0

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = _scene(context)
        settings = scene.intermask
        paths = [item.name for item in settings.results]
        rigs_by_person = [settings.armature_a, settings.armature_b]
        if settings.result_mode == "EDIT":
            return self._apply_stretch(scene, paths[0])
        try:
            clip = results.load_variation(paths, settings.variation)
            slots = results.people_to_bake(clip, settings.result_mode)[1]
            partner = scene.objects.get(settings.result_partner)
            if settings.result_mode == "REACT" and partner is not None and rigs_by_person[1] == partner:
                raise results.ResultError(f"Person B's rig '{partner.name}' is the partner itself: pick another rig")
            start = settings.result_start if settings.result_mode == "REACT" else None  # in step with the partner
            report = results.bake_result(scene, clip, settings.result_mode, rigs_by_person,
                                         name=settings.result_prompt or "InterMask", frame_start=start,
                                         partner=partner)
        except USER_ERRORS as exc:
            return _fail(self, settings, str(exc))
        preview.discard(scene)
        for slot, name in zip(slots, report.armatures):  # the next Apply reuses these rigs (old keys go to NLA)
            setattr(settings, ("armature_a", "armature_b")[slot], scene.objects[name])
        names = ", ".join(report.actions)
        settings.status = f"Applied variation {settings.variation}: {report.frames} frames → {names}"
        settings.status_is_error = False
        self.report({"INFO"}, settings.status)
        return {"FINISHED"}

    def _apply_stretch(self, scene: bpy.types.Scene, path: str) -> set[str]:
        """A Regenerate job's result, spliced into the armatures and frames it was started for."""
        settings = scene.intermask
        try:
            actions, frames = stretch.splice_result(scene, path)
        except USER_ERRORS as exc:
            return _fail(self, settings, str(exc))
        preview.discard(scene)
        settings.status = f"Regenerated frames {frames[0]}-{frames[1]} → {', '.join(actions)}"
        settings.status_is_error = False
        self.report({"INFO"}, settings.status)
        return {"FINISHED"}


class INTERMASK_OT_preview(bpy.types.Operator):
    """Show the chosen variation on temporary stick figures (removed on Apply or Discard)"""

    bl_idname = "intermask.preview"
    bl_label = "Preview"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not job.busy() and len(context.scene.intermask.results) > 0

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.intermask
        try:
            clip = results.load_variation([item.name for item in settings.results], settings.variation)
            preview.show(_scene(context), clip, settings.variation)
        except USER_ERRORS as exc:
            return _fail(self, settings, str(exc))
        settings.status = f"Previewing variation {settings.variation} (stick figures in '{preview.COLLECTION}')"
        settings.status_is_error = False
        return {"FINISHED"}


class INTERMASK_OT_discard_preview(bpy.types.Operator):
    """Remove the temporary preview figures"""

    bl_idname = "intermask.discard_preview"
    bl_label = "Discard Preview"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return preview.COLLECTION in bpy.data.collections

    def execute(self, context: bpy.types.Context) -> set[str]:
        preview.discard(_scene(context))
        return {"FINISHED"}


class INTERMASK_OT_unload(bpy.types.Operator):
    """Free the model's memory in the worker; the next Generate loads it again"""

    bl_idname = "intermask.unload"
    bl_label = "Unload Model"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.intermask
        try:
            freed = job.unload()
        except job.JobStartError as exc:
            return _fail(self, settings, str(exc))
        settings.status = "Model unloaded" if freed else "No model loaded"
        settings.status_is_error = False
        return {"FINISHED"}


class INTERMASK_OT_randomise_seed(bpy.types.Operator):
    """Pick a new random seed"""

    bl_idname = "intermask.randomise_seed"
    bl_label = "Randomise Seed"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        context.scene.intermask.seed = random.randrange(0, 2**31 - 1)
        return {"FINISHED"}


CLASSES = (
    INTERMASK_OT_generate, INTERMASK_OT_cancel, INTERMASK_OT_apply, INTERMASK_OT_preview,
    INTERMASK_OT_discard_preview, INTERMASK_OT_unload, INTERMASK_OT_randomise_seed,
)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
