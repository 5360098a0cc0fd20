"""The built-in characters: IM_Person_A / IM_Person_B, armatures whose bones carry the 22 joint names.

Used when the animator has not chosen a rig. Each bone starts at its joint (an average adult in a
T-pose, SMPL-like proportions). The body mesh (``mannequin_body``: rounded parts, a face with eyes and a
nose, hands, feet) is skinned to those bones, shaded smooth, and coloured per person so A and B tell
apart at a glance, in Solid mode as well as rendered.
"""

from __future__ import annotations

from typing import Any

import bpy
import numpy as np

from ..seam import skeleton
from . import mannequin_body

NAMES = ("IM_Person_A", "IM_Person_B")
#: Person A warm orange, person B blue: apart in hue and readable on Blender's grey.
COLOURS = ((1.0, 0.38, 0.06, 1.0), (0.08, 0.42, 1.0, 1.0))
EYE_COLOUR = (0.02, 0.02, 0.025, 1.0)
#: Joint offsets from the parent joint (m), model axes (Y up, facing +Z, +X = the person's left), T-pose.
_LEFT_OFFSETS = {
    "pelvis": (0.0, 0.99, 0.0), "left_hip": (0.06, -0.085, -0.015), "spine1": (0.0, 0.12, -0.03),
    "left_knee": (0.04, -0.385, 0.005), "spine2": (0.0, 0.135, 0.025), "left_ankle": (-0.01, -0.42, -0.035),
    "spine3": (0.0, 0.055, 0.0), "left_foot": (0.035, -0.06, 0.125), "neck": (0.0, 0.21, -0.03),
    "left_collar": (0.075, 0.11, -0.02), "head": (0.0, 0.09, 0.05), "left_shoulder": (0.12, 0.045, -0.015),
    "left_elbow": (0.26, 0.0, -0.02), "left_wrist": (0.265, 0.0, -0.005),
}

def rest_joints() -> np.ndarray:
    """The mannequin's 22 rest joint positions in Blender world axes (Z up, facing -Y)."""
    offsets = np.array([_LEFT_OFFSETS.get(n) or _mirror(_LEFT_OFFSETS[n.replace("right_", "left_")]) for n in skeleton.JOINT_NAMES])
    joints = np.zeros_like(offsets)
    for j, parent in enumerate(skeleton.PARENTS):
        joints[j] = offsets[j] + (joints[parent] if parent >= 0 else 0.0)
    return skeleton.model_to_blender(joints)


def _mirror(offset: tuple[float, float, float]) -> tuple[float, float, float]:
    return (-offset[0], offset[1], offset[2])


def bone_segments(joints: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, head, tail) per joint: the tail is the primary child, or a short stub along the limb."""
    primary = {0: 3, 9: 12}
    stubs = {"head": np.array([0.0, 0.0, 0.2]), "left_foot": np.array([0.0, -0.06, 0.0]), "right_foot": np.array([0.0, -0.06, 0.0])}
    segments = []
    for j, name in enumerate(skeleton.JOINT_NAMES):
        children = [c for c, p in enumerate(skeleton.PARENTS) if p == j]
        if children:
            tail = joints[primary.get(j, children[0])]
        elif name in stubs:
            tail = joints[j] + stubs[name]
        else:  # wrists: continue the forearm
            forearm = joints[j] - joints[skeleton.PARENTS[j]]
            tail = joints[j] + 0.09 * forearm / np.linalg.norm(forearm)
        segments.append((name, joints[j], tail))
    return segments


def _body_mesh(name: str, body: mannequin_body.BodyMesh) -> Any:
    """A Blender mesh from the body arrays, written with foreach_set (thousands of vertices, no loop)."""
    mesh: Any = bpy.data.meshes.new(name)
    mesh.vertices.add(len(body.vertices))
    mesh.vertices.foreach_set("co", body.vertices.astype(np.float32).ravel())
    mesh.loops.add(len(body.loop_vertices))
    mesh.loops.foreach_set("vertex_index", body.loop_vertices.astype(np.int32))
    mesh.polygons.add(len(body.loop_starts))
    mesh.polygons.foreach_set("loop_start", body.loop_starts.astype(np.int32))
    mesh.polygons.foreach_set("material_index", body.materials.astype(np.int32))
    mesh.polygons.foreach_set("use_smooth", np.ones(len(body.loop_starts), dtype=bool))
    mesh.update(calc_edges=True)
    return mesh


def _skin(body_object: Any, weights: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """One vertex group per bone; ``VertexGroup.add`` takes one weight per call, so weights are grouped
    into 1/32 steps (finer than the eye can tell on a blend between two bones)."""
    for bone, (indices, values) in weights.items():
        group = body_object.vertex_groups.new(name=bone)
        steps = np.round(values * 32.0)
        for step in np.unique(steps):
            group.add(indices[steps == step].tolist(), float(step) / 32.0, "REPLACE")


def _material(name: str, colour: tuple[float, float, float, float], roughness: float) -> Any:
    """A material that shows ``colour`` in Solid mode (viewport display) and when rendered (its nodes)."""
    material: Any = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    material.diffuse_color = colour
    material.roughness = roughness
    if material.node_tree is None:  # before 5.0 a new material has no nodes until asked for them
        material.use_nodes = True
    bsdf = next((n for n in material.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = colour
        bsdf.inputs["Roughness"].default_value = roughness
    return material


def build_mannequin(scene: Any, person: int) -> Any:
    """Create IM_Person_A (person 0) or IM_Person_B (person 1) in ``scene``; returns the armature object."""
    name = NAMES[person]
    segments = bone_segments(rest_joints())
    armature = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, armature)
    scene.collection.objects.link(obj)
    with bpy.context.temp_override(active_object=obj, object=obj, selected_objects=[obj]):
        # Edit bones exist only in edit mode: Blender has no other API to create bones.
        view_layer: Any = bpy.context.view_layer
        view_layer.objects.active = obj
        bpy.ops.object.mode_set(mode="EDIT")
        edit = {}
        for bone, head, tail in segments:
            edit[bone] = armature.edit_bones.new(bone)
            edit[bone].head, edit[bone].tail = head.tolist(), tail.tolist()
        for j, parent in enumerate(skeleton.PARENTS):
            if parent >= 0:
                edit[skeleton.JOINT_NAMES[j]].parent = edit[skeleton.JOINT_NAMES[parent]]
        bpy.ops.object.mode_set(mode="OBJECT")
    body = mannequin_body.build_body(rest_joints())
    mesh = _body_mesh(f"{name}_Body", body)
    mesh.materials.append(_material(f"{name}_Skin", COLOURS[person], 0.55))
    mesh.materials.append(_material("IM_Mannequin_Eyes", EYE_COLOUR, 0.2))
    body_object: Any = bpy.data.objects.new(f"{name}_Body", mesh)
    scene.collection.objects.link(body_object)
    body_object.parent = obj
    body_object.color = COLOURS[person]
    _skin(body_object, body.weights)
    modifier: Any = body_object.modifiers.new("Armature", "ARMATURE")
    modifier.object = obj
    return obj
