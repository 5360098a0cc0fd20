"""The bone-map table in the sidebar: which bone plays each clip joint, and the animator's overrides.

The guess comes from :mod:`bonemap` (a preset, or the rig's structure); an override (stored on the armature data by
:mod:`bonemap`) replaces the guess for one joint and travels with the .blend file.
"""

# fake-bpy-module types every context member as Optional and RNA collections as unions of all ID types:
# mypy: disable-error-code="union-attr,override,attr-defined,assignment"

from __future__ import annotations

import bpy

from ..errors import InterMaskError
from ..rigs import bonemap
from ..seam import skeleton

JOINTS = (bonemap.ROOT, *skeleton.JOINT_NAMES)


def _armature(name: str) -> bpy.types.Object:
    obj = bpy.data.objects.get(name)
    if obj is None or obj.type != "ARMATURE":
        raise bonemap.BoneMapError(f"'{name}' is not an armature in this file")
    return obj


class INTERMASK_OT_bonemap_override(bpy.types.Operator):
    """Choose this joint's bone yourself (starts from the guessed bone)"""

    bl_idname = "intermask.bonemap_override"
    bl_label = "Override Bone"
    bl_options = {"REGISTER", "UNDO"}

    armature: bpy.props.StringProperty()  # type: ignore[valid-type]
    joint: bpy.props.StringProperty()  # type: ignore[valid-type]

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            obj = _armature(self.armature)
            guess = bonemap.automatic_map_of(obj).bones.get(self.joint)
            bonemap.set_override(obj, self.joint, guess or obj.data.bones[0].name)
        except (InterMaskError, IndexError) as exc:
            self.report({"ERROR"}, str(exc) or f"'{self.armature}' has no bones")
            return {"CANCELLED"}
        return {"FINISHED"}


class INTERMASK_OT_bonemap_clear(bpy.types.Operator):
    """Go back to the guessed bone for this joint"""

    bl_idname = "intermask.bonemap_clear"
    bl_label = "Clear Override"
    bl_options = {"REGISTER", "UNDO"}

    armature: bpy.props.StringProperty()  # type: ignore[valid-type]
    joint: bpy.props.StringProperty()  # type: ignore[valid-type]

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            items = _armature(self.armature).data.intermask_bone_map
        except bonemap.BoneMapError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for index in reversed(range(len(items))):
            if items[index].joint == self.joint:
                items.remove(index)
        return {"FINISHED"}


def draw(layout: bpy.types.UILayout, armature: bpy.types.Object) -> None:
    """One row per joint: the override (editable, with a clear button) or the guess (with an edit button)."""
    guess = bonemap.automatic_map_of(armature)
    overrides = {item.joint: item for item in armature.data.intermask_bone_map}
    layout.label(text=f"Preset: {guess.preset}")
    missing = bonemap.BoneMap(armature.name, {**guess.bones, **{j: i.bone for j, i in overrides.items()}},
                              guess.preset, tail_joints=guess.tail_joints).missing_essential()
    if missing:
        layout.label(text=f"Missing: {', '.join(missing)}", icon="ERROR")
    col = layout.column(align=True)
    for joint in JOINTS:
        row = col.row(align=True)
        row.label(text=joint)
        item = overrides.get(joint)
        if item is not None:
            row.prop_search(item, "bone", armature.data, "bones", text="")
            op = row.operator(INTERMASK_OT_bonemap_clear.bl_idname, text="", icon="X")
        else:
            tail = guess.tail_joints.get(joint)
            row.label(text=guess.bones.get(joint) or (f"tail of {tail}" if tail else "—"))
            op = row.operator(INTERMASK_OT_bonemap_override.bl_idname, text="", icon="GREASEPENCIL")
        op.armature, op.joint = armature.name, joint


CLASSES = (INTERMASK_OT_bonemap_override, INTERMASK_OT_bonemap_clear)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
