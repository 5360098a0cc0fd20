"""The built-in characters: IM_Person_A / IM_Person_B, armatures whose bones carry the 22 joint names.

Used when the animator has not chosen a rig. Each bone starts at its joint (an average adult in a
T-pose, SMPL-like proportions) and is skinned rigidly to one capsule of a simple body mesh. The capsules
come from trimesh where it is importable (the dev environment); inside a Blender without trimesh they
are built from a bmesh UV sphere whose upper half is pulled up by the bone length — the same shape.
"""

from __future__ import annotations

from typing import Any

import bpy
import numpy as np

from ..seam import skeleton

NAMES = ("IM_Person_A", "IM_Person_B")
COLOURS = ((0.85, 0.33, 0.10, 1.0), (0.12, 0.45, 0.80, 1.0))
#: Joint offsets from the parent joint (m), model axes (Y up, facing +Z, +X = the person's left), T-pose.
_LEFT_OFFSETS = {
    "pelvis": (0.0, 0.99, 0.0), "left_hip": (0.06, -0.085, -0.015), "spine1": (0.0, 0.12, -0.03),
    "left_knee": (0.04, -0.385, 0.005), "spine2": (0.0, 0.135, 0.025), "left_ankle": (-0.01, -0.42, -0.035),
    "spine3": (0.0, 0.055, 0.0), "left_foot": (0.035, -0.06, 0.125), "neck": (0.0, 0.21, -0.03),
    "left_collar": (0.075, 0.11, -0.02), "head": (0.0, 0.09, 0.05), "left_shoulder": (0.12, 0.045, -0.015),
    "left_elbow": (0.26, 0.0, -0.02), "left_wrist": (0.265, 0.0, -0.005),
}
#: Capsule radius (m) of the bone that starts at each joint.
_RADII = {
    "pelvis": 0.12, "hip": 0.075, "spine1": 0.11, "knee": 0.055, "spine2": 0.115, "ankle": 0.04, "spine3": 0.12,
    "foot": 0.035, "neck": 0.05, "collar": 0.05, "head": 0.1, "shoulder": 0.05, "elbow": 0.04, "wrist": 0.035,
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


def _capsule(length: float, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and triangles of a capsule from z=0 to z=length (sphere centres), radius ``radius``."""
    try:
        import trimesh
    except ImportError:
        return _capsule_bmesh(length, radius)
    mesh = trimesh.creation.capsule(height=length, radius=radius, count=[10, 10])
    return np.asarray(mesh.vertices) + [0.0, 0.0, length / 2.0], np.asarray(mesh.faces)


def _capsule_bmesh(length: float, radius: float) -> tuple[np.ndarray, np.ndarray]:
    import bmesh

    bm = bmesh.new()
    bmesh.ops.create_uvsphere(bm, u_segments=10, v_segments=10, radius=radius)
    for vert in bm.verts:
        if vert.co.z > 0:
            vert.co.z += length
    bmesh.ops.triangulate(bm, faces=bm.faces[:])
    verts = np.array([v.co[:] for v in bm.verts])
    faces = np.array([[v.index for v in f.verts] for f in bm.faces])
    bm.free()
    return verts, faces


def _body_mesh(name: str, segments: list[tuple[str, np.ndarray, np.ndarray]]) -> tuple[Any, list[tuple[str, range]]]:
    verts_all, faces_all, groups, offset = [], [], [], 0
    for bone, head, tail in segments:
        axis = tail - head
        length = float(np.linalg.norm(axis))
        verts, faces = _capsule(length, _RADII[bone.replace("left_", "").replace("right_", "")])
        z = axis / length
        x = np.cross([0.0, 1.0, 0.0] if abs(z[1]) < 0.9 else [1.0, 0.0, 0.0], z)
        x /= np.linalg.norm(x)
        frame = np.stack([x, np.cross(z, x), z], axis=1)
        verts_all.append(verts @ frame.T + head)
        faces_all.append(faces + offset)
        groups.append((bone, range(offset, offset + len(verts))))
        offset += len(verts)
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(np.concatenate(verts_all).tolist(), [], np.concatenate(faces_all).tolist())
    mesh.update()
    return mesh, groups


def _material(name: str, colour: tuple[float, float, float, float]) -> Any:
    material: Any = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    material.diffuse_color = colour  # solid-mode viewport colour
    nodes: Any = material.node_tree.nodes if material.node_tree else {}
    if "Principled BSDF" in nodes:  # rendered colour, where the material has Blender's default node tree
        nodes["Principled BSDF"].inputs["Base Color"].default_value = colour
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
    mesh, groups = _body_mesh(f"{name}_Body", segments)
    body: Any = bpy.data.objects.new(f"{name}_Body", mesh)
    scene.collection.objects.link(body)
    body.parent = obj
    for bone, indices in groups:
        body.vertex_groups.new(name=bone).add(list(indices), 1.0, "REPLACE")
    modifier: Any = body.modifiers.new("Armature", "ARMATURE")
    modifier.object = obj
    material = _material(f"{name}_Skin", COLOURS[person])
    mesh.materials.append(material)
    body.color = COLOURS[person]
    return obj
