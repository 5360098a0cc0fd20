"""A VRM avatar's own humanoid map, turned into bone-map overrides.

A VRM file is a glTF whose ``VRM`` (0.x) or ``VRMC_vrm`` (1.0) extension says which node is the hips, the
left upper leg, and so on. That map was made for this very avatar by its author, so it beats any guess
from names or structure: it is stored on the armature as overrides, exactly like the panel's, where the
animator can see and change it. Blender's glTF importer names a bone after its node (``Node_<index>``
when the node has none), so the node index leads to the bone.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from . import bonemap
from .rig_files import RigError

#: VRM humanoid bone → our joint (VRM's optional upperChest is the third spine joint; toes are the foot).
VRM_JOINTS: dict[str, str] = {
    "hips": "pelvis", "spine": "spine1", "chest": "spine2", "upperChest": "spine3", "neck": "neck", "head": "head",
    **{f"{side}{vrm}": f"{side}_{joint}" for side in ("left", "right") for vrm, joint in (
        ("UpperLeg", "hip"), ("LowerLeg", "knee"), ("Foot", "ankle"), ("Toes", "foot"), ("Shoulder", "collar"),
        ("UpperArm", "shoulder"), ("LowerArm", "elbow"), ("Hand", "wrist"))},
}


def humanoid_nodes(gltf: dict[str, Any]) -> dict[str, int]:
    """VRM humanoid bone name → node index, from either VRM version; empty for a plain glTF."""
    extensions = gltf.get("extensions") or {}
    if "VRMC_vrm" in extensions:  # 1.0: {"hips": {"node": 3}, ...}
        bones = (extensions["VRMC_vrm"].get("humanoid") or {}).get("humanBones") or {}
        return {name: entry["node"] for name, entry in bones.items() if isinstance(entry, dict) and "node" in entry}
    if "VRM" in extensions:  # 0.x: [{"bone": "hips", "node": 3}, ...]
        bones = (extensions["VRM"].get("humanoid") or {}).get("humanBones") or []
        return {entry["bone"]: entry["node"] for entry in bones if isinstance(entry, dict) and {"bone", "node"} <= entry.keys()}
    return {}


def humanoid_joints(gltf: dict[str, Any], path: Path, bone_names: set[str]) -> dict[str, str]:
    """Our joint → the armature's bone, for every VRM humanoid bone that plays one of our joints.

    A node whose name several nodes share is skipped (Blender renames all but one, and which one keeps
    the name is not in the file); a node that is not a bone of the armature makes the file inconsistent."""
    nodes = gltf.get("nodes") or []
    names = [node.get("name") or f"Node_{i}" for i, node in enumerate(nodes)]
    shared = {name for name, count in Counter(names).items() if count > 1}
    out = {}
    for vrm_bone, node in humanoid_nodes(gltf).items():
        joint = VRM_JOINTS.get(vrm_bone)
        if joint is None:
            continue  # fingers, eyes, jaw: bones we leave at rest
        if not isinstance(node, int) or not 0 <= node < len(names):
            raise RigError(f"{path}: its VRM humanoid gives {vrm_bone} node {node!r}, which the file does not have")
        if names[node] in shared:
            continue
        if names[node] not in bone_names:
            raise RigError(f"{path}: its VRM humanoid gives {vrm_bone} node {node} ('{names[node]}'), "
                           f"which is not a bone of the imported armature")
        out[joint] = names[node]
    return out


def store_humanoid_map(armature: Any, gltf: dict[str, Any], path: Path) -> dict[str, str]:
    """Store the VRM humanoid map on ``armature`` as bone-map overrides; returns what was stored."""
    joints = humanoid_joints(gltf, path, {bone.name for bone in armature.data.bones})
    if joints:
        bonemap.register()
        for joint, bone in joints.items():
            bonemap.set_override(armature, joint, bone)
    return joints
