"""Rigs on the command line: broken rig files, ``--map`` overrides and ``--json`` output, as a user runs
``intermask bake`` and ``intermask generate`` (real processes; the rig files are written by Blender's
own exporters or cut from them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import bpy
import pytest
from h4_scenes import fresh_scene, salsa_clip

from intermask_blender.rigs import import_guard
from intermask_blender.rigs.rig_import import enable_addon
from intermask_blender.rigs.rig_specs import RigError, resolve_rig

INTERMASK = [sys.executable, "-m", "intermask_blender.commands.main"]
pytestmark = pytest.mark.timeout(300)


def intermask(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([*INTERMASK, *args], check=False, capture_output=True, text=True, timeout=240, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a saved clip, a good rig .blend (one bone renamed to a name no preset knows) and
    the broken rig files of :data:`BROKEN`."""
    folder = tmp_path_factory.mktemp("rig_files")
    for addon in ("io_scene_fbx", "io_scene_gltf2"):
        enable_addon(addon)
    salsa_clip(30).save(folder / "salsa.npz")
    scene = fresh_scene()
    rig = resolve_rig("mannequin", scene, 0)
    bpy.ops.export_scene.fbx(filepath=str(folder / "whole.fbx"), add_leaf_bones=False)
    rig.data.bones["left_wrist"].name = "grip_socket"
    bpy.ops.wm.save_as_mainfile(filepath=str(folder / "rig.blend"))
    scene = fresh_scene()
    mesh = bpy.data.meshes.new("box")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)], [], [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)])
    scene.collection.objects.link(bpy.data.objects.new("box", mesh))
    bpy.ops.export_scene.gltf(filepath=str(folder / "no_skin.glb"), export_format="GLB")
    whole = (folder / "whole.fbx").read_bytes()
    (folder / "truncated.fbx").write_bytes(whole[: len(whole) // 2])
    (folder / "garbage.fbx").write_bytes(os.urandom(4000))
    (folder / "empty.glb").write_bytes(b"")
    (folder / "ascii.fbx").write_text("; FBX 7.4.0 project file\nFBXHeaderExtension:  {\n}\n")
    (folder / "not_a.bvh").write_text("this is a text file, not a motion capture\n" * 20)
    blend = (folder / "rig.blend").read_bytes()
    (folder / "truncated.blend").write_bytes(blend[: len(blend) // 3])
    return folder


#: broken rig SPEC (in the files folder) → words the message must hold besides the file's name
BROKEN = {
    "garbage.fbx": "not an FBX file",
    "truncated.fbx": "Blender's FBX importer cannot read it",
    "empty.glb": "the file is empty",
    "ascii.fbx": "ASCII FBX",
    "no_skin.glb": "has no skin",
    "not_a.bvh": "not a BVH file",
    "truncated.blend:IM_Person_A": "Blender's .blend importer cannot read it",
    "rig.blend:IM_Person_A_Body": "is a mesh, not an armature",
}


@pytest.mark.parametrize("spec", BROKEN)
def test_a_broken_rig_file_is_named_and_leaves_nothing_in_the_scene(files: Path, spec: str) -> None:
    scene = fresh_scene()
    before = import_guard.id_pointers()
    with pytest.raises(RigError) as caught:
        resolve_rig(str(files / spec), scene, 0)
    assert spec.split(":")[0] in str(caught.value) and BROKEN[spec] in str(caught.value), caught.value
    assert import_guard.ids_since(before) == []


@pytest.mark.parametrize("spec", BROKEN)
def test_bake_refuses_a_broken_rig_with_one_line_and_writes_nothing(tmp_path: Path, files: Path, spec: str) -> None:
    done = intermask("bake", str(files / "salsa.npz"), "--rig", "mannequin", "--rig", str(files / spec),
                     "--out", "out.blend", "--json", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == "", done.stdout
    assert spec.split(":")[0] in done.stderr and BROKEN[spec] in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "out.blend").exists()


@pytest.mark.parametrize("spec", ["not_a.bvh", "no_skin.glb"])
def test_generate_refuses_a_broken_rig_before_any_generation(tmp_path: Path, files: Path, spec: str) -> None:
    done = intermask("generate", "two people dance", "--seconds", "1", "--device", "cpu", "--rig", str(files / spec),
                     "--out", "out.blend", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert f"intermask generate: error: {files / spec}" in done.stderr and BROKEN[spec] in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out.blend").exists()


_OVERRIDES = r"""
import json, sys, bpy
from intermask_blender.rigs import bonemap
bonemap.register()
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
print("MAPS " + json.dumps({o.name: bonemap.overrides_of(o.data) for o in bpy.data.objects if o.type == "ARMATURE"}))
"""


def _saved_overrides(blend: Path) -> dict[str, dict[str, str]]:
    done = subprocess.run([sys.executable, "-c", _OVERRIDES, str(blend)], check=False, capture_output=True, text=True, timeout=120)
    line = next((line for line in done.stdout.splitlines() if line.startswith("MAPS ")), None)
    assert line, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(line[5:])


def test_map_options_are_stored_per_person_like_the_panels_overrides(tmp_path: Path, files: Path) -> None:
    rig = f"{files / 'rig.blend'}:IM_Person_A"
    (tmp_path / "b.json").write_text(json.dumps({"left_wrist": "grip_socket", "head": "head"}))
    done = intermask("bake", str(files / "salsa.npz"), "--rig", rig, "--rig", rig, "--map", "left_wrist=grip_socket",
                     "--map-a", "neck=neck", "--map-b", "b.json", "--out", "mapped.blend", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)  # JSON alone on stdout: Blender's "Info: Saved ..." went to stderr
    assert "Info: Saved" in done.stderr and summary["frames"] == 30
    a, b = summary["armatures"]
    assert _saved_overrides(tmp_path / "mapped.blend") == {
        a: {"left_wrist": "grip_socket", "neck": "neck"},
        b: {"left_wrist": "grip_socket", "head": "head"},
    }


@pytest.mark.parametrize(("args", "message"), [
    (["--map", "left_wrist=no_such_bone"], "--map left_wrist=no_such_bone: armature 'IM_Person_A' (mannequin) has no bone 'no_such_bone'"),
    (["--map", "wrist=left_wrist"], "--map: unknown joint 'wrist'"),
    (["--map-b", "missing.json"], "--map file not found: missing.json"),
    (["--map", "left_wrist="], "expected JOINT=BONE"),
])
def test_a_bad_map_option_is_named(tmp_path: Path, files: Path, args: list[str], message: str) -> None:
    done = intermask("bake", str(files / "salsa.npz"), *args, "--out", "out.blend", cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "out.blend").exists()


def test_map_is_in_the_help_of_every_rig_command(tmp_path: Path) -> None:
    for command in ("generate", "react", "bake"):
        done = intermask(command, "--help", cwd=tmp_path)
        assert done.returncode == 0 and "--map-a" in done.stdout and "FILE.vrm" in done.stdout, (command, done.stdout)
