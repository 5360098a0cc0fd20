"""Temporary stick figures that show a variation before it is baked onto the real rigs.

A figure shows the clip's own joints, not a retarget, so what the animator judges is what the model
made. Each person is one armature object: 22 tiny joint bones keyed at the clip's joint positions, and one
limb bone per parent→child pair that follows its two joints with Copy Location + Stretch To. The people
share one armature data (bones are the same; pose, constraints and colours are per object). Everything
lives in the ``IM_Preview`` collection and is removed by :func:`discard` (on Apply or Discard).
"""

# fake-bpy-module types every context member as Optional and RNA collections as unions of all ID types:
# mypy: disable-error-code="union-attr,override,attr-defined,assignment"

from __future__ import annotations

import bpy
import numpy as np

from ..seam import clip_file as clipmod
from ..seam import skeleton
from . import keys

COLLECTION = "IM_Preview"
PREFIX = "IM_Preview"
JOINT_BONE_LENGTH = 0.03
LIMB_BONE_LENGTH = 0.1  # rest length; Stretch To scales it to the joint distance
COLOURS = ("THEME01", "THEME04")  # person A red, person B blue (Blender's bone colour sets)


def discard(scene: bpy.types.Scene) -> None:
    """Remove the preview collection, its armatures and their actions (nothing else is touched)."""
    collection = bpy.data.collections.get(COLLECTION)
    if collection is None:
        return
    for obj in list(collection.objects):
        data, anim = obj.data, obj.animation_data
        action = anim.action if anim is not None else None
        bpy.data.objects.remove(obj)
        if data is not None and data.users == 0:
            bpy.data.armatures.remove(data)
        if action is not None and action.users == 0:
            bpy.data.actions.remove(action)
    bpy.data.collections.remove(collection)


def _figure_bones(name: str, collection: bpy.types.Collection) -> bpy.types.Armature:
    """The armature data both figures share: joint bones at the origin (identity rest, so a pose location
    is an armature-space position) and limbs. Bones can only be made in edit mode, and each mode switch is
    an ``editmode_toggle`` line in the Info log and an undo step: one build (two switches) per preview."""
    data = bpy.data.armatures.new(name)
    data.display_type = "STICK"
    builder = bpy.data.objects.new(name, data)
    collection.objects.link(builder)
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = builder  # edit mode follows the view layer's active object
    bpy.ops.object.mode_set(mode="EDIT")
    for joint in skeleton.JOINT_NAMES:
        bone = data.edit_bones.new(joint)
        bone.head, bone.tail = (0.0, 0.0, 0.0), (0.0, JOINT_BONE_LENGTH, 0.0)
    for child, parent in enumerate(skeleton.PARENTS):
        if parent >= 0:
            bone = data.edit_bones.new(f"limb_{skeleton.JOINT_NAMES[child]}")
            bone.head, bone.tail = (0.0, 0.0, 0.0), (0.0, LIMB_BONE_LENGTH, 0.0)
    bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = previous
    bpy.data.objects.remove(builder)
    return data


def _figure(name: str, data: bpy.types.Armature, collection: bpy.types.Collection, colour: str) -> bpy.types.Object:
    """One person's figure on the shared bones: its own limb constraints and bone colour (both per object)."""
    obj = bpy.data.objects.new(name, data)
    obj.show_in_front = True
    collection.objects.link(obj)
    if obj.pose is None:  # a new object gets its pose when the depsgraph first sees it
        bpy.context.view_layer.update()
    for child, parent in enumerate(skeleton.PARENTS):
        if parent < 0:
            continue
        limb = obj.pose.bones[f"limb_{skeleton.JOINT_NAMES[child]}"]
        follow = limb.constraints.new("COPY_LOCATION")
        follow.target, follow.subtarget = obj, skeleton.JOINT_NAMES[parent]
        stretch = limb.constraints.new("STRETCH_TO")
        stretch.target, stretch.subtarget = obj, skeleton.JOINT_NAMES[child]
        stretch.volume, stretch.rest_length = "NO_VOLUME", LIMB_BONE_LENGTH
    for bone in obj.pose.bones:
        bone.color.palette = colour
    return obj


def show(scene: bpy.types.Scene, clip: clipmod.Clip, variation: int) -> list[bpy.types.Object]:
    """Replace any preview with stick figures of ``clip``, keyed from the scene's current frame."""
    discard(scene)
    collection = bpy.data.collections.new(COLLECTION)
    collection.hide_render = True
    scene.collection.children.link(collection)
    fps = scene.render.fps / scene.render.fps_base
    frames = scene.frame_current + np.arange(clip.num_frames, dtype=np.float64) * fps / float(clip.fps)
    world = skeleton.model_to_blender(clip.positions.astype(np.float64))  # [T, P, 22, 3]
    figures = []
    data = _figure_bones(PREFIX, collection)
    for person in range(clip.num_people):
        name = f"{PREFIX}_{'AB'[person]}"
        obj = _figure(name, data, collection, COLOURS[person])
        channels = [keys.Channel(f'pose.bones["{joint}"].location', axis, joint, world[:, person, j, axis])
                    for j, joint in enumerate(skeleton.JOINT_NAMES) for axis in range(3)]
        keys.write_action(obj, f"{name}_v{variation}", frames, channels)
        figures.append(obj)
    return figures
