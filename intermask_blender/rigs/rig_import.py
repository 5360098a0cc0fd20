"""A user's rig file into the scene as the file has it: Blender's own importers, world transform kept.

``.fbx``, ``.bvh``, ``.glb``/``.gltf``/``.vrm`` go through Blender's importers (the only API Blender
offers for those formats); ``FILE.blend:OBJECT`` is appended with the objects it needs. Every import runs
under :func:`import_guard.guarded_import`: the scene's frame rate, frame range and units stay as they
were, and a file that cannot be read leaves nothing behind.

Units are the importers' job (the FBX importer applies the file's unit scale; glTF is metres) and are
never applied a second time. Only a rig that still comes out taller than a building in the world (a
centimetre BVH, which has no units, or an FBX that states the wrong ones) is scaled by 0.01 at the top
of its hierarchy; measured in world space, so a rig whose parent already scales it is left alone.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import bpy
import numpy as np
from mathutils import Matrix

from . import import_guard, vrm_humanoid
from .rig_files import RigError, check_rig_file, read_gltf_json

#: A rig whose rest bones span more than this many metres is in centimetres (people are under 3 m).
_CENTIMETRE_SPAN_M = 10.0
_IMPORTERS = {"fbx": ("io_scene_fbx", "FBX"), "bvh": ("io_anim_bvh", "BVH"), "gltf": ("io_scene_gltf2", "glTF")}


def enable_addon(addon: str) -> None:
    """Enable one of Blender's bundled add-ons (the importers, Rigify) unless it already is."""
    import addon_utils

    _, loaded_state = addon_utils.check(addon)
    if not loaded_state:
        addon_utils.enable(addon, default_set=True)


def ancestors(obj: Any) -> list[Any]:
    """The object's parent, its parent's parent, ... up to the top."""
    out = []
    while obj.parent is not None:
        obj = obj.parent
        out.append(obj)
    return out


def _one_armature(objects: list[Any], path: Path) -> Any:
    armatures = [o for o in objects if o.type == "ARMATURE"]
    if not armatures:
        raise RigError(f"{path}: holds no armature, so nothing to animate")
    if len(armatures) > 1:
        raise RigError(f"{path}: holds {len(armatures)} armatures ({', '.join(a.name for a in armatures[:6])}); "
                       f"save it as a .blend and give one as FILE.blend:OBJECT")
    if not armatures[0].data.bones:
        raise RigError(f"{path}: its armature '{armatures[0].name}' has no bones")
    return armatures[0]


def rest_span_m(armature: Any, scene: Any) -> float:
    """The largest extent (metres) of the armature's rest bones as placed in the world."""
    for layer in scene.view_layers:
        layer.update()
    bones = armature.data.bones
    local = np.array([tuple(b.head_local) for b in bones] + [tuple(b.tail_local) for b in bones])
    world = local @ np.array(armature.matrix_world)[:3, :3].T
    return float(np.ptp(world, axis=0).max() * scene.unit_settings.scale_length)


def _fix_centimetres(armature: Any, scene: Any) -> None:
    if rest_span_m(armature, scene) > _CENTIMETRE_SPAN_M:
        top = ([armature, *ancestors(armature)])[-1]
        top.matrix_world = Matrix.Scale(0.01, 4) @ top.matrix_world


def _run_importer(kind: str, path: Path, scene: Any) -> None:
    with bpy.context.temp_override(scene=scene):
        if kind == "fbx":
            bpy.ops.import_scene.fbx(filepath=str(path))
        elif kind == "bvh":
            bpy.ops.import_anim.bvh(filepath=str(path), update_scene_fps=False, update_scene_duration=False)
        else:
            bpy.ops.import_scene.gltf(filepath=str(path))


def fbx_frame_rate(path: Path) -> float:
    """The frame rate an FBX file states (what Blender's importer keys its animation at), read with the
    importer's own parser and rules; 25 where the file states none, as the importer does."""
    check_rig_file(path)
    enable_addon("io_scene_fbx")
    from io_scene_fbx import import_fbx, parse_fbx  # type: ignore[import-not-found]
    from io_scene_fbx.fbx_utils import FBX_FRAMERATES  # type: ignore[import-not-found]

    try:
        root, _ = parse_fbx.parse(str(path))
    except (OSError, struct.error, zlib.error, KeyError) as exc:  # cut blocks, short reads, bad arrays, types
        raise RigError(f"{path}: Blender's FBX reader cannot read it ({exc})") from None
    settings = import_fbx.elem_find_first(root, b"GlobalSettings")
    props = import_fbx.elem_find_first(settings, b"Properties70") if settings is not None else None
    if props is None:
        return 25.0
    custom = import_fbx.elem_props_get_number(props, b"CustomFrameRate", 25.0)
    mode = import_fbx.elem_props_get_enum(props, b"TimeMode")
    rate = {mode_id: fps for fps, mode_id in FBX_FRAMERATES[1:]}.get(mode, custom)
    return float(rate) if rate > 0.0 else 25.0


def import_rig_file(path: Path, scene: Any) -> Any:
    """The armature a .fbx/.bvh/.glb/.gltf/.vrm file holds, imported with whatever else the file has
    (meshes, parents); a VRM's humanoid map is stored on it as bone-map overrides."""
    kind = check_rig_file(path)
    gltf = read_gltf_json(path) if kind == "gltf" else None
    addon, name = _IMPORTERS[kind]
    enable_addon(addon)
    before = {o.as_pointer() for o in bpy.data.objects}
    with import_guard.guarded_import(scene, path, name):
        _run_importer(kind, path, scene)
        armature = _one_armature([o for o in bpy.data.objects if o.as_pointer() not in before], path)
        if gltf is None:
            _fix_centimetres(armature, scene)
        else:
            vrm_humanoid.store_humanoid_map(armature, gltf, path)
    return armature


def append_blend_object(path: Path, name: str, scene: Any) -> Any:
    """Append armature ``name`` from a .blend with its parents (their transforms place it in the world)
    and its children (the meshes it deforms); nothing else of the file stays."""
    if check_rig_file(path) != "blend":
        raise RigError(f"{path}: not a .blend file")
    before = import_guard.id_pointers()
    with import_guard.guarded_import(scene, path, ".blend"):
        with bpy.data.libraries.load(str(path), link=False) as (data_from, data_to):  # type: ignore[func-returns-value,attr-defined]
            names = list(data_from.objects)
            if name not in names:
                raise RigError(f"{path}: no object named '{name}' (objects: {', '.join(names[:20])})")
            data_to.objects = list(names)  # Blender turns this list into the loaded objects
        loaded = dict(zip(names, data_to.objects))
        armature = loaded[name]
        if armature is None or armature.type != "ARMATURE":
            kind = "missing" if armature is None else f"a {armature.type.lower()}"
            raise RigError(f"{path}: object '{name}' is {kind}, not an armature")
        keep = {armature, *ancestors(armature)} | {o for o in loaded.values() if o is not None and armature in ancestors(o)}
        for obj in keep:
            scene.collection.objects.link(obj)
        import_guard.remove_unused_since(before)
    return armature
