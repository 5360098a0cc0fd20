"""Regenerate a stretch, in the panel: a frame range in scene frames, whose motion and a prompt, and the
Regenerate button (a sub-panel of the InterMask panel, with its own scene settings).

It works on the applied result's two armatures (the panel's Person A and B) or, when those are not both
set, on the two selected armatures (A first by name). Regenerate starts a background job like Generate
(:mod:`client.job`: the armatures read across timer ticks, then the shared worker's edit, with progress and
Cancel); the interface never waits. The result is written by Apply (its one undo step brings the old actions
back), onto the armatures and frames the job was started for (:func:`baking.stretch.splice_result`).
"""

# fake-bpy-module types every context member as Optional and RNA collections as unions of all ID types:
# mypy: disable-error-code="union-attr,override,attr-defined,assignment,valid-type"

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import cast

import bpy

from ..baking import stretch
from ..client import job
from ..errors import USER_ERRORS, UsageError
from . import preferences, properties
from .panel import InterMaskPanel


class IM_StretchSettings(bpy.types.PropertyGroup):
    frame_first: bpy.props.IntProperty(name="From", default=1, description="First scene frame to regenerate")
    frame_last: bpy.props.IntProperty(name="To", default=60, description="Last scene frame to regenerate")
    person: bpy.props.EnumProperty(
        name="Person", default="both",
        items=[("both", "Both", "Regenerate both people"), ("a", "A", "Regenerate person A only"),
               ("b", "B", "Regenerate person B only")])
    prompt: bpy.props.StringProperty(name="Prompt", description="What happens in the stretch (empty: the take's own)")


def stretch_armatures(context: bpy.types.Context) -> list[bpy.types.Object]:
    """Person A's and B's armatures: the applied result's, else the two selected (A first by name)."""
    settings = context.scene.intermask
    applied = [settings.armature_a, settings.armature_b]
    if all(obj is not None and obj.animation_data and obj.animation_data.action for obj in applied):
        return applied
    selected = sorted((obj for obj in context.selected_objects if obj.type == "ARMATURE"), key=lambda o: o.name)
    if len(selected) != 2:
        raise UsageError("Select the two people's armatures (or apply a result) to regenerate a stretch of them")
    return selected


def _prompt(context: bpy.types.Context) -> str:
    """The stretch's prompt, else the applied result's, else the panel's (a read-back clip has none)."""
    settings = context.scene.intermask
    prompt = context.scene.intermask_stretch.prompt.strip() or settings.result_prompt.strip()
    if not prompt:
        prompt = properties.prompts_of(settings)[0]
    if not prompt:
        raise UsageError("Say what happens in the stretch: its prompt, or the panel's, is empty")
    return prompt


class INTERMASK_OT_regenerate_stretch(bpy.types.Operator):
    """Regenerate the frame range in the background, keeping every key outside it; Apply writes it"""

    bl_idname = "intermask.regenerate_stretch"
    bl_label = "Regenerate"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not job.busy()

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = cast(bpy.types.Scene, context.scene)  # never None while an operator runs
        settings, wanted = scene.intermask, scene.intermask_stretch
        frames = (int(wanted.frame_first), int(wanted.frame_last))
        sampler = replace(properties.sampler_settings(settings), variations=1)
        out_dir: Path | None = None
        try:
            prompt = _prompt(context)
            armatures = stretch_armatures(context)
            config = preferences.worker_config(context)
            out_dir = job.new_job_folder()
            request = stretch.edit_request(out_dir, person=wanted.person, prompt=prompt, sampler=sampler)
            reading = stretch.StretchReading(scene, armatures, frames, person=wanted.person, prompt=prompt,
                                             request=request)
            try:
                job.start(scene, request, config, prepare=reading)
            except BaseException:
                reading.close()
                raise
        except USER_ERRORS as exc:
            job.discard_folder(out_dir)
            settings.status, settings.status_is_error = str(exc), True
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"InterMask: regenerating frames {frames[0]}-{frames[1]}")
        return {"FINISHED"}


class IM_PT_stretch(InterMaskPanel):
    bl_label = "Regenerate a Stretch"
    bl_parent_id = "IM_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        wanted = context.scene.intermask_stretch
        row = self.layout.row(align=True)
        row.prop(wanted, "frame_first")
        row.prop(wanted, "frame_last")
        self.layout.row().prop(wanted, "person", expand=True)
        self.layout.prop(wanted, "prompt")
        self.layout.operator(INTERMASK_OT_regenerate_stretch.bl_idname, icon="FILE_REFRESH")


CLASSES = (IM_StretchSettings, INTERMASK_OT_regenerate_stretch, IM_PT_stretch)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.intermask_stretch = bpy.props.PointerProperty(type=IM_StretchSettings)


def unregister() -> None:
    del bpy.types.Scene.intermask_stretch
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)

