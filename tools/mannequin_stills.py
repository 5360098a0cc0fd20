"""Render stills of the two mannequins baked with a clip, to look at them without a Blender window.

    PYTHONPATH=. .venv/bin/python tools/mannequin_stills.py [CLIP.npz] [--frames 1,60] [--out out/mannequin]

Without a clip it bakes 4 s of the cached CMU salsa pair. Workbench with the studio light and material
colours is what Blender's Solid viewport draws, so the stills show what an animator sees after Apply;
each frame is shot from two sides, plus a T-pose front view and a close-up of the face.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import bpy
import numpy as np
from mathutils import Vector

from intermask_blender.baking.bake import bake_clip
from intermask_blender.commands.scene_setup import new_scene
from intermask_blender.rigs.rig_specs import resolve_rig
from vendor_models.data.build import ensure_cache
from vendor_models.motion.clip_file import Clip


def _stage(scene: Any) -> Any:
    """Solid-mode look, a floor and a camera; returns the camera."""
    scene.render.engine = "BLENDER_WORKBENCH"
    shading = scene.display.shading
    shading.light, shading.color_type, shading.show_shadows, shading.show_object_outline = "STUDIO", "MATERIAL", True, True
    scene.render.resolution_x, scene.render.resolution_y = 800, 600
    floor = bpy.data.meshes.new("Floor")
    floor.from_pydata([(-8, -8, 0), (8, -8, 0), (8, 8, 0), (-8, 8, 0)], [], [(0, 1, 2, 3)])
    scene.collection.objects.link(bpy.data.objects.new("Floor", floor))
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    return camera


def _shoot(scene: Any, camera: Any, eye: np.ndarray, target: np.ndarray, path: Path, lens: float = 35.0) -> None:
    camera.location, camera.data.lens = Vector(eye.tolist()), lens
    camera.rotation_euler = Vector((target - eye).tolist()).to_track_quat("-Z", "Y").to_euler()
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", nargs="?", type=Path, help="a two-person clip (.npz); default: cached salsa")
    parser.add_argument("--frames", default="1,60", help="clip frames to shoot, 1-based (default 1,60)")
    parser.add_argument("--out", type=Path, default=Path("out/mannequin"))
    args = parser.parse_args()
    clip = Clip.load(args.clip or ensure_cache() / "salsa_01.npz")
    if args.clip is None:
        clip = Clip(clip.positions[150:270], clip.rotations[150:270], clip.contacts[150:270], clip.fps, clip.meta)
    args.out.mkdir(parents=True, exist_ok=True)
    scene = new_scene(round(clip.fps))
    people = [resolve_rig("mannequin", scene, p) for p in range(2)]
    camera = _stage(scene)
    people[1].location.x = 1.0  # side by side in their T-pose for the front view
    _shoot(scene, camera, np.array([0.5, -2.2, 1.5]), np.array([0.5, 0.0, 1.0]), args.out / "rest_front.png")
    _shoot(scene, camera, np.array([0.2, -0.8, 1.7]), np.array([0.0, 0.0, 1.6]), args.out / "rest_face.png", 50.0)
    people[1].location.x = 0.0
    report = bake_clip(scene, clip, people, name="stills")
    for frame in (int(f) for f in args.frames.split(",")):
        scene.frame_set(report.frame_start + frame - 1)
        middle = np.mean([np.array(p.matrix_world @ p.pose.bones["pelvis"].head) for p in people], axis=0)
        middle[2] = 0.9
        for view, offset in (("front", (2.4, -2.8, 0.7)), ("back", (-3.0, 1.1, 0.5))):
            _shoot(scene, camera, middle + np.array(offset), middle, args.out / f"frame{frame:03d}_{view}.png")
    print(f"stills in {args.out}")


if __name__ == "__main__":
    main()
