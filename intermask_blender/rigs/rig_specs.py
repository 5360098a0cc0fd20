"""Turn a rig SPEC from the command line into an armature object in the scene.

SPEC is ``mannequin`` (our IM_Person_A/B), ``rigify`` (Blender's human metarig), ``rigify-rig`` (the
control rig Rigify generates from it, keyed through its FK controls), ``FILE.blend:OBJECT``
(an armature appended from a .blend, with the meshes parented to it), ``FILE.fbx`` or ``FILE.bvh``
(imported with Blender's own importers, the only API Blender offers for those formats).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

from ..errors import InterMaskError
from .mannequin import build_mannequin

RIG_SPECS = "mannequin | rigify | rigify-rig | FILE.blend:OBJECT | FILE.fbx | FILE.bvh"
#: A rest hip height above this many scene units means a centimetre rig (BVH files are often cm).
_CENTIMETRE_HIP_HEIGHT = 10.0


class RigError(InterMaskError, ValueError):
    """A rig SPEC that cannot be turned into an armature; the message names the file or object."""


def _enable(addon: str) -> None:
    import addon_utils

    loaded_default, loaded_state = addon_utils.check(addon)
    if not loaded_state:
        addon_utils.enable(addon, default_set=True)


def _new_objects(before: set[str]) -> list[Any]:
    return [o for o in bpy.data.objects if o.name not in before]


def _only_armature(objects: list[Any], source: str) -> Any:
    armatures = [o for o in objects if o.type == "ARMATURE"]
    if len(armatures) != 1:
        raise RigError(f"{source}: expected exactly one armature, found {len(armatures)}")
    return armatures[0]


def _rigify(scene: Any) -> Any:
    _enable("rigify")
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


def _append_blend(path: Path, name: str, scene: Any) -> Any:
    with bpy.data.libraries.load(str(path), link=False) as (data_from, data_to):  # type: ignore[func-returns-value,attr-defined]
        if name not in data_from.objects:
            raise RigError(f"{path}: no object named '{name}' (objects: {', '.join(data_from.objects[:20])})")
        data_to.objects = list(data_from.objects)
    loaded = [o for o in data_to.objects if o is not None]
    armature = next(o for o in loaded if o.name.split(".")[0] == name or o.name == name)
    if armature.type != "ARMATURE":
        raise RigError(f"{path}: object '{name}' is a {armature.type.lower()}, not an armature")
    keep = {armature} | {o for o in loaded if armature in _ancestors(o)}
    for obj in loaded:
        if obj in keep:
            scene.collection.objects.link(obj)
        else:
            bpy.data.objects.remove(obj)
    return armature


def _ancestors(obj: Any) -> list[Any]:
    out = []
    while obj.parent is not None:
        obj = obj.parent
        out.append(obj)
    return out


def _import(path: Path, scene: Any) -> Any:
    before = {o.name for o in bpy.data.objects}
    with bpy.context.temp_override(scene=scene):
        if path.suffix.lower() == ".fbx":
            _enable("io_scene_fbx")
            bpy.ops.import_scene.fbx(filepath=str(path))
        else:
            _enable("io_anim_bvh")
            bpy.ops.import_anim.bvh(filepath=str(path), update_scene_fps=False, update_scene_duration=False)
    armature = _only_armature(_new_objects(before), str(path))
    if armature.data.bones and max(b.head_local.z for b in armature.data.bones) > _CENTIMETRE_HIP_HEIGHT and armature.scale[0] == 1.0:
        armature.scale = (0.01, 0.01, 0.01)  # a centimetre rig: keep its bones, scale the object
    return armature


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
        return _append_blend(path, object_name, scene)
    path = Path(spec)
    if path.suffix.lower() not in (".fbx", ".bvh"):
        raise RigError(f"unknown rig '{spec}'; expected {RIG_SPECS}")
    if not path.is_file():
        raise RigError(f"rig file not found: {path}")
    return _import(path, scene)
