"""The one scene set-up of the headless commands (generate, react, bake).

An empty scene at the given frame rate, with the add-on's per-armature data registered, so a rig loaded
from a .blend file keeps the bone-map overrides the animator saved in it (without the registration they
sit in the file unread).
"""

from __future__ import annotations

import bpy

from ..rigs import bonemap


def new_scene(fps: int = 30) -> bpy.types.Scene:
    """Factory settings, no default cube, the overrides property registered; frame 1 at ``fps``."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bonemap.register()
    scene = bpy.data.scenes[0]
    scene.render.fps, scene.render.fps_base = fps, 1.0
    scene.frame_start = scene.frame_current = 1
    return scene
