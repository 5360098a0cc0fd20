"""View3D > Sidebar > InterMask: prompt and settings, Generate/Cancel with live progress, variations,
preview and Apply; sub-panels for the sampler's advanced settings and per-armature bone-map overrides."""

# fake-bpy-module types every context member as Optional and RNA collections as unions of all ID types:
# mypy: disable-error-code="union-attr,override,attr-defined,assignment"

from __future__ import annotations

import bpy

from ..baking import preview_figures as preview
from ..client import job
from . import bonemap_panel as bonemap_ui
from . import model_choice, operators, preferences, status_line


class InterMaskPanel(bpy.types.Panel):
    """Where every InterMask panel lives (a base, never registered itself)."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "InterMask"


class IM_PT_main(InterMaskPanel):
    bl_label = "InterMask"
    bl_idname = "IM_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.intermask
        running = job.busy()

        col = layout.column(align=True)
        col.enabled = not running
        model_choice.draw_choice(col, preferences.get(context))
        layout.row().prop(settings, "mode", expand=True)
        col = layout.column(align=True)
        col.enabled = not running
        if settings.prompt_text is None:
            col.prop(settings, "prompt", text="")
        row = col.row(align=True)
        row.label(text="Text", icon="TEXT")  # the Text datablock that replaces the one-line prompt
        row.template_ID(settings, "prompt_text", new="text.new", open="text.open")
        if settings.prompt_text is not None:
            col.prop(settings, "per_person_lines")

        col = layout.column(align=True)
        col.enabled = not running
        if settings.mode == "GENERATE":
            col.prop(settings, "seconds")
        row = col.row(align=True)
        row.prop(settings, "seed")
        row.operator(operators.INTERMASK_OT_randomise_seed.bl_idname, text="", icon="FILE_REFRESH")
        col.prop(settings, "variations")

        col = layout.column(align=True)
        if settings.mode == "REACT":
            partner = context.active_object
            name = partner.name if partner is not None and partner.type == "ARMATURE" else "(select an armature)"
            col.label(text=f"Partner (A): {name}", icon="ARMATURE_DATA")
        else:
            col.prop(settings, "armature_a")
        col.prop(settings, "armature_b")

        row = layout.row(align=True)
        row.scale_y = 1.4
        sub = row.row(align=True)
        sub.enabled = not running
        sub.operator(operators.INTERMASK_OT_generate.bl_idname, icon="PLAY")
        row.operator(operators.INTERMASK_OT_cancel.bl_idname, icon="CANCEL")

        if running:
            status_line.draw(layout.column(), settings.status or "Working…", progress=settings.progress)
        elif settings.status:
            status_line.draw(layout.column(), settings.status, is_error=settings.status_is_error)

        if len(settings.results) > 0:
            box = layout.box()
            box.enabled = not running  # the old result stays until the new one replaces it
            box.label(text=status_line.short_form(f"Result: {settings.result_prompt}"), icon="ARMATURE_DATA")
            box.prop(settings, "variation", text=f"Variation (1–{len(settings.results)})")
            row = box.row(align=True)
            row.operator(operators.INTERMASK_OT_preview.bl_idname, icon="HIDE_OFF")
            if preview.COLLECTION in bpy.data.collections:
                row.operator(operators.INTERMASK_OT_discard_preview.bl_idname, text="", icon="TRASH")
            box.operator(operators.INTERMASK_OT_apply.bl_idname, icon="CHECKMARK")
        layout.operator(operators.INTERMASK_OT_unload.bl_idname, icon="UNLINKED")


class IM_PT_advanced(InterMaskPanel):
    bl_label = "Advanced"
    bl_parent_id = "IM_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.intermask
        col = self.layout.column(align=True)
        col.enabled = not job.busy()
        col.prop(settings, "own_sampler")
        sub = col.column(align=True)
        sub.active = settings.own_sampler
        sub.prop(settings, "guidance")
        sub.prop(settings, "steps")


class IM_PT_bonemap(InterMaskPanel):
    """Which target bone each of the 22 joints drives, with the animator's overrides."""

    bl_label = "Bone Map"
    bl_parent_id = "IM_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.intermask
        armatures = [a for a in (settings.armature_a, settings.armature_b) if a is not None]
        active = context.active_object
        if active is not None and active.type == "ARMATURE" and active not in armatures:
            armatures.append(active)
        if not armatures:
            self.layout.label(text="Pick a rig above (the mannequin needs no map)", icon="INFO")
        for armature in armatures:
            box = self.layout.box()
            box.label(text=armature.name, icon="ARMATURE_DATA")
            bonemap_ui.draw(box, armature)


CLASSES = (IM_PT_main, IM_PT_advanced, IM_PT_bonemap)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
