"""Turn a rig SPEC from the command line into an armature object in the scene.

SPEC is ``mannequin`` (our IM_Person_A/B), ``rigify`` (Blender's human metarig), ``rigify-rig`` (the
control rig Rigify generates from it, keyed through its FK controls), ``FILE.blend:OBJECT`` (an armature
appended from a .blend with its parents and the meshes parented to it), or a ``.fbx``, ``.bvh``, ``.glb``,
``.gltf`` or ``.vrm`` file (imported with Blender's own importers; see :mod:`rig_import`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

from .mannequin import build_mannequin
from .rig_files import FORMATS, RigError
from .rig_import import append_blend_object, enable_addon, import_rig_file

__all__ = ["RIG_SPECS", "RigError", "resolve_rig"]

RIG_SPECS = "mannequin | rigify | rigify-rig | FILE.blend:OBJECT | FILE.fbx | FILE.bvh | FILE.glb | FILE.gltf | FILE.vrm"


def _new_objects(before: set[str]) -> list[Any]:
    return [o for o in bpy.data.objects if o.name not in before]


def _only_armature(objects: list[Any], source: str) -> Any:
    armatures = [o for o in objects if o.type == "ARMATURE"]
    if len(armatures) != 1:
        raise RigError(f"{source}: expected exactly one armature, found {len(armatures)}")
    return armatures[0]


def _rigify(scene: Any) -> Any:
    enable_addon("rigify")
    before = {o.name for o in bpy.data.objects}
    with bpy.context.temp_override(scene=scene):
        bpy.ops.object.armature_human_metarig_add()  # type: ignore[attr-defined]  # added by the rigify add-on
    return _only_armature(_new_objects(before), "rigify metarig")


def _rigify_control_rig(scene: Any) -> Any:
    """Rigify's generated control rig for its human metarig (the metarig is removed; ~4 s)."""
    meta = _rigify(scene)
    layer = scene.view_layers[0]
    layer.objects.active = meta  # Rigify's generator reads (and changes) the view layer's active object
    meta.select_set(True, view_layer=layer)
    with bpy.context.temp_override(scene=scene, view_layer=layer):
        bpy.ops.pose.rigify_generate()  # type: ignore[attr-defined]  # added by the rigify add-on
    rig = meta.data.rigify_target_rig
    bpy.data.objects.remove(meta)
    return rig


def resolve_rig(spec: str, scene: Any, person: int) -> Any:
    """The armature object for ``spec`` (``person`` 0 or 1 picks the mannequin's name and colour)."""
    spec = spec.strip()
    if spec in ("", "mannequin"):
        return build_mannequin(scene, person)
    if spec == "rigify":
        return _rigify(scene)
    if spec == "rigify-rig":
        return _rigify_control_rig(scene)
    file_part, _, object_name = spec.partition(".blend:")
    if object_name:
        path = Path(file_part + ".blend")
        if not path.is_file():
            raise RigError(f"rig file not found: {path}")
        return append_blend_object(path, object_name, scene)
    path = Path(spec)
    if path.suffix.lower() not in FORMATS:
        raise RigError(f"unknown rig '{spec}'; expected {RIG_SPECS}")
    return import_rig_file(path, scene)
