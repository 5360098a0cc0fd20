"""Rig files into the scene: Blender's own exporters write them, ``resolve_rig`` brings them back.

Sizes and placements are measured through the depsgraph (evaluated world bone heads, in metres) against
the rig that was exported; the scene's settings and its data-blocks are compared before and after.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import bpy
import numpy as np
import pytest
from h4_scenes import fresh_scene
from mathutils import Matrix

from intermask_blender.rigs import import_guard
from intermask_blender.rigs.bonemap import bone_map_for, overrides_of
from intermask_blender.rigs.rig_import import enable_addon, fbx_frame_rate, rest_span_m
from intermask_blender.rigs.rig_specs import RigError, resolve_rig
from intermask_blender.rigs.vrm_humanoid import VRM_JOINTS
from vendor_models.motion.skeleton import JOINT_NAMES

RIGS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rigs"
SALSA_BVH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cmu" / "bvh_daz" / "01.bvh"

for _addon in ("io_scene_fbx", "io_scene_gltf2"):  # their exporters write the test files
    enable_addon(_addon)


def world_heads_m(obj: bpy.types.Object, scene: bpy.types.Scene) -> dict[str, np.ndarray]:
    """Evaluated world head of every bone, in metres (scene units times the scene's unit scale)."""
    for layer in scene.view_layers:
        layer.update()
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    scale, pose = scene.unit_settings.scale_length, evaluated.pose
    assert pose is not None
    return {b.name: np.array(evaluated.matrix_world @ b.head) * scale for b in pose.bones}


def height_m(heads: dict[str, np.ndarray]) -> float:
    z = np.array([h[2] for h in heads.values()])
    return float(z.max() - z.min())


def centimetre_rig(scene: bpy.types.Scene, y_up: bool = False) -> bpy.types.Object:
    """The mannequin with its bones and mesh in centimetres (scene units of a UE/Maya-style cm scene);
    ``y_up``: lying along +Y in its own data, to stand up under a parent rotated 90 degrees about X."""
    rig = resolve_rig("mannequin", scene, 0)
    to_cm = Matrix.Scale(100.0, 4) @ (Matrix.Rotation(-np.pi / 2, 4, "X") if y_up else Matrix.Identity(4))
    rig.data.transform(to_cm)
    for child in rig.children:
        child.data.transform(to_cm)
    rig.data.update_tag()  # Armature.transform does not tell the depsgraph the pose must be rebuilt
    return rig


def parent_empty(scene: bpy.types.Scene, rig: bpy.types.Object, scale: float, rotation: tuple[float, float, float]) -> bpy.types.Object:
    empty = bpy.data.objects.new("Root", None)
    scene.collection.objects.link(empty)
    empty.scale = (scale,) * 3
    empty.rotation_euler = rotation
    empty.location = (0.4, -0.2, 0.0)
    rig.parent = empty
    return empty


# --- FBX units --------------------------------------------------------------------------------------

#: Y-up cm bones stand up under this parent rotation (the UE4 mannequin's), turned 30 degrees about Z too.
UE4_PARENT_ROTATION = (np.pi / 2, 0.0, np.radians(30.0))
FBX_CASES: dict[str, dict[str, Any]] = {
    # a cm scene (scale_length 0.01), bones in cm: the file says centimetres, the importer scales the object
    "cm scene": {"scene_scale": 0.01, "parent": None, "export": {}},
    # the same under a "Root" null (UE style): the importer puts the unit scale on the parent
    "cm scene, rotated parent": {"scene_scale": 0.01, "parent": (1.0, (0.0, 0.0, np.radians(90.0))), "export": {}},
    # a metre scene with cm bones under a scaled (0.01) and rotated parent, like the UE4 mannequin .blend
    "m scene, 0.01 parent": {"scene_scale": 1.0, "parent": (0.01, UE4_PARENT_ROTATION), "export": {}},
    # a file that states the wrong units (raw cm values written as metres): 100x too big from the importer
    "wrong units": {"scene_scale": 0.01, "parent": None, "export": {"apply_unit_scale": False}},
}


@pytest.mark.parametrize("case", FBX_CASES)
def test_centimetre_fbx_keeps_its_world_size_and_placement(tmp_path: Path, case: str) -> None:
    setup = FBX_CASES[case]
    scene = fresh_scene()
    scene.unit_settings.scale_length = setup["scene_scale"]
    rig = centimetre_rig(scene, y_up=setup["scene_scale"] == 1.0)
    if setup["parent"] is not None:
        parent_empty(scene, rig, *setup["parent"])
    original = world_heads_m(rig, scene)
    fbx = tmp_path / "cm.fbx"
    bpy.ops.export_scene.fbx(filepath=str(fbx), add_leaf_bones=False, **setup["export"])

    scene = fresh_scene()
    imported = resolve_rig(str(fbx), scene, 0)
    got = world_heads_m(imported, scene)
    assert height_m(got) == pytest.approx(height_m(original), rel=0.01), (height_m(got), height_m(original))
    worst = max(np.linalg.norm(got[name] - original[name]) for name in original)
    assert worst < 0.002, f"bone heads up to {worst:.4f} m from where the exported rig had them"


def test_blend_object_keeps_its_scaled_rotated_parent(tmp_path: Path) -> None:
    scene = fresh_scene(24)
    rig = centimetre_rig(scene, y_up=True)
    root = parent_empty(scene, rig, 0.01, UE4_PARENT_ROTATION)
    resolve_rig("mannequin", scene, 1).location = (3.0, 0.0, 0.0)  # someone else in the file: not wanted
    original = world_heads_m(rig, scene)
    assert 1.5 < height_m(original) < 1.7
    names = rig.name, root.name
    blend = tmp_path / "ue4_like.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))

    scene = fresh_scene(30)
    before = import_guard.id_pointers()
    appended = resolve_rig(f"{blend}:{names[0]}", scene, 0)
    got = world_heads_m(appended, scene)
    worst = max(np.linalg.norm(got[name] - original[name]) for name in original)
    assert worst < 1e-5, f"bone heads up to {worst} m from where they were in the file"
    assert appended.parent is not None and appended.parent.name == names[1]
    assert [c.name for c in appended.children] == ["IM_Person_A_Body"]
    new = {(type(block).__name__, block.name) for block in import_guard.ids_since(before) if not isinstance(block, bpy.types.Library)}
    assert {name for kind, name in new if kind == "Object"} == {"Root", "IM_Person_A", "IM_Person_A_Body"}
    assert "IM_Person_B" not in bpy.data.meshes and "IM_Person_B" not in bpy.data.armatures  # nothing orphaned
    assert scene.render.fps == 30


# --- scene settings ---------------------------------------------------------------------------------

def _settings(scene: bpy.types.Scene) -> dict[str, object]:
    units = scene.unit_settings
    return {"fps": scene.render.fps, "fps_base": scene.render.fps_base, "start": scene.frame_start,
            "end": scene.frame_end, "current": scene.frame_current, "system": units.system,
            "length": units.length_unit, "scale": units.scale_length, "rotation": units.system_rotation}


def _user_scene() -> bpy.types.Scene:
    scene = fresh_scene(30)
    scene.render.fps_base = 1.001  # 29.97 fps
    scene.frame_start, scene.frame_end = 1, 1134
    scene.frame_set(17)
    scene.unit_settings.system = "IMPERIAL"
    scene.unit_settings.length_unit = "INCHES"  # type: ignore[assignment]  # fake-bpy lists only DEFAULT
    scene.unit_settings.system_rotation = "RADIANS"
    return scene


@pytest.fixture(scope="module")
def rig_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An animated FBX written at 24 fps and a .glb at 25 fps by Blender's exporters, a short real BVH."""
    folder = tmp_path_factory.mktemp("rigs")
    scene = fresh_scene(24)
    rig = resolve_rig("mannequin", scene, 0)
    rig.pose.bones["left_elbow"].rotation_mode = "XYZ"
    for frame, angle in ((1, 0.0), (40, 1.0)):
        rig.pose.bones["left_elbow"].rotation_euler = (angle, 0.0, 0.0)
        rig.pose.bones["left_elbow"].keyframe_insert("rotation_euler", frame=frame)
    scene.frame_end = 40
    files = {"fbx": folder / "rig.fbx", "glb": folder / "rig.glb", "bvh": folder / "rig.bvh"}
    bpy.ops.export_scene.fbx(filepath=str(files["fbx"]), add_leaf_bones=False)
    scene.render.fps = 25
    bpy.ops.export_scene.gltf(filepath=str(files["glb"]), export_format="GLB")
    text = SALSA_BVH.read_text().replace("\r\n", "\n")
    head, _, motion = text.partition("MOTION\n")
    lines = motion.split("\n")
    files["bvh"].write_text(f"{head}MOTION\nFrames: 20\n{lines[1]}\n" + "\n".join(lines[2:22]) + "\n")
    return files


def test_fbx_importer_alone_changes_the_frame_rate(rig_files: dict[str, Path]) -> None:
    """The control for the test below: what an unguarded import does to the scene."""
    scene = _user_scene()
    with bpy.context.temp_override(scene=scene):
        bpy.ops.import_scene.fbx(filepath=str(rig_files["fbx"]))
    assert (scene.render.fps, scene.render.fps_base) == (24, 1.0)
    assert fbx_frame_rate(rig_files["fbx"]) == 24.0  # what `intermask react` uses for an FBX partner


@pytest.mark.parametrize("kind", ["fbx", "glb", "bvh"])
def test_no_import_changes_frame_rate_range_or_units(rig_files: dict[str, Path], kind: str) -> None:
    scene = _user_scene()
    before = _settings(scene)
    armature = resolve_rig(str(rig_files[kind]), scene, 0)
    assert armature.type == "ARMATURE"
    assert _settings(scene) == before


# --- glTF and VRM -----------------------------------------------------------------------------------

def _glb_parts(data: bytes) -> tuple[dict, bytes]:
    length, _ = struct.unpack_from("<II", data, 12)
    return json.loads(data[20:20 + length]), data[20 + length:]


def _glb(gltf: dict, rest: bytes) -> bytes:
    text = json.dumps(gltf).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + rest
    return b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body


@pytest.fixture(scope="module")
def anonymous_glb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A mannequin whose bones carry names no preset knows, exported by Blender's glTF exporter; with
    the joint each renamed bone plays."""
    scene = fresh_scene()
    rig = resolve_rig("mannequin", scene, 0)
    bone_of = {}
    for i, joint in enumerate(JOINT_NAMES):
        rig.data.bones[joint].name = bone_of[joint] = f"qx{(i * 7919) % 97:02d}"
    path = tmp_path_factory.mktemp("vrm") / "anonymous.glb"
    bpy.ops.export_scene.gltf(filepath=str(path), export_format="GLB")
    return path, bone_of


def _vrm(tmp: Path, glb: Path, bone_of: dict[str, str], version: str, broken: bool = False) -> Path:
    gltf, rest = _glb_parts(glb.read_bytes())
    node = {n["name"]: i for i, n in enumerate(gltf["nodes"]) if "name" in n}
    joint_to_vrm = {joint: vrm for vrm, joint in VRM_JOINTS.items()}
    human = {joint_to_vrm[j]: node[bone] for j, bone in bone_of.items()}
    human["leftThumbProximal"] = node[bone_of["left_wrist"]]  # a finger: not one of our joints, ignored
    if broken:
        human["hips"] = next(i for i, n in enumerate(gltf["nodes"]) if "mesh" in n)
    extension: dict[str, Any]
    if version == "0.x":
        extension = {"VRM": {"humanoid": {"humanBones": [{"bone": b, "node": n} for b, n in human.items()]}}}
    else:
        extension = {"VRMC_vrm": {"specVersion": "1.0", "humanoid": {"humanBones": {b: {"node": n} for b, n in human.items()}}}}
    gltf.setdefault("extensions", {}).update(extension)
    gltf["extensionsUsed"] = [*gltf.get("extensionsUsed", []), *extension]
    out = tmp / f"avatar_{version}{'_broken' if broken else ''}.vrm"
    out.write_bytes(_glb(gltf, rest))
    return out


@pytest.mark.parametrize("version", ["0.x", "1.0"])
def test_a_vrm_humanoid_map_is_stored_as_overrides_and_used(tmp_path: Path, anonymous_glb, version: str) -> None:
    glb, bone_of = anonymous_glb
    scene = fresh_scene()
    assert overrides_of(resolve_rig(str(glb), scene, 0).data) == {}  # the same file without the extension
    armature = resolve_rig(str(_vrm(tmp_path, glb, bone_of, version)), scene, 1)
    assert overrides_of(armature.data) == bone_of
    assert {j: b for j, b in bone_map_for(armature).bones.items() if j in bone_of} == bone_of


def test_a_vrm_naming_a_node_outside_the_skeleton_is_refused(tmp_path: Path, anonymous_glb) -> None:
    glb, bone_of = anonymous_glb
    scene = fresh_scene()
    before = import_guard.id_pointers()
    with pytest.raises(RigError, match=r"avatar_0.x_broken.vrm: its VRM humanoid gives hips node \d+ .*not a bone"):
        resolve_rig(str(_vrm(tmp_path, glb, bone_of, "0.x", broken=True)), scene, 0)
    assert import_guard.ids_since(before) == []


def test_separate_gltf_imports_and_a_missing_buffer_is_named(tmp_path: Path) -> None:
    scene = fresh_scene()
    resolve_rig("mannequin", scene, 0)
    path = tmp_path / "sep.gltf"
    bpy.ops.export_scene.gltf(filepath=str(path), export_format="GLTF_SEPARATE")
    scene = fresh_scene()
    assert resolve_rig(str(path), scene, 0).type == "ARMATURE"
    (tmp_path / "sep.bin").unlink()
    with pytest.raises(RigError, match="sep.gltf: its buffer file 'sep.bin' is missing"):
        resolve_rig(str(path), scene, 0)


@pytest.mark.parametrize(("spec", "bones", "tall"), [
    ("RobotExpressive.glb", 43, (3.0, 8.0)),  # cartoon robot (T-pose arms 5.4 m apart), armature scaled 100
    ("cesiumman/CesiumMan.gltf", 19, (1.0, 2.0)),  # Khronos sample, under an empty rotated -90 degrees X
])
def test_real_third_party_gltf_rigs_come_in_under_their_parents(spec: str, bones: int, tall: tuple[float, float]) -> None:
    """Their size comes from the armature object's and its parents' transforms (the robot's bones alone
    span 6 cm): a rest span in the expected range means those were kept and not rescaled."""
    scene = _user_scene()
    before = _settings(scene)
    armature = resolve_rig(str(RIGS / spec), scene, 0)
    assert len(armature.data.bones) == bones and armature.parent is not None
    span = rest_span_m(armature, scene)
    assert tall[0] < span < tall[1], span
    assert _settings(scene) == before
