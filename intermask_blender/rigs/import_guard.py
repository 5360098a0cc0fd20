"""Run one of Blender's importers so that it changes nothing but what it adds, and adds nothing if it fails.

Blender's importers set scene settings as a side effect: the FBX importer sets the frame rate to the
file's (a 30 fps scene became 25 fps and 1,134 frames became 945), BVH and glTF imports can set the frame
range. A rig is only a target, so the scene's frame rate, frame range and units are put back after every
import. A failing importer prints a Python traceback from inside Blender and may leave half-built objects,
meshes, images and actions behind; here its output is captured, the error becomes a :class:`RigError`
naming the file and the importer's own last words, and every data-block created since the start is
removed, so nothing is written.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bpy

from .rig_files import RigError

_SCENE_SETTINGS = ("frame_start", "frame_end", "frame_current", "frame_step", "use_preview_range",
                   "frame_preview_start", "frame_preview_end")
_RENDER_SETTINGS = ("fps", "fps_base")
#: bpy.data collections an importer never adds to and that cannot be removed.
_FIXED_COLLECTIONS = {"window_managers", "screens", "workspaces"}


def _unit_settings(scene: Any) -> dict[str, Any]:
    units = scene.unit_settings
    return {p.identifier: getattr(units, p.identifier) for p in units.bl_rna.properties
            if not p.is_readonly and p.identifier != "rna_type"}


@contextlib.contextmanager
def scene_settings_kept(scene: Any) -> Iterator[None]:
    """Put the scene's frame rate, frame range and unit settings back as they were, however the body ends."""
    kept = {name: getattr(scene, name) for name in _SCENE_SETTINGS}
    render = {name: getattr(scene.render, name) for name in _RENDER_SETTINGS}
    units = _unit_settings(scene)
    try:
        yield
    finally:
        for name, value in render.items():
            setattr(scene.render, name, value)
        for name, value in units.items():
            setattr(scene.unit_settings, name, value)
        for name, value in kept.items():
            setattr(scene, name, value)


def _id_collections() -> list[Any]:
    return [getattr(bpy.data, p.identifier) for p in bpy.data.bl_rna.properties
            if p.type == "COLLECTION" and p.identifier not in _FIXED_COLLECTIONS]


def id_pointers() -> set[int]:
    """Every data-block there is now, as pointers (cheap to keep, safe after a data-block is removed)."""
    return {block.as_pointer() for collection in _id_collections() for block in collection}


def ids_since(before: set[int]) -> list[Any]:
    """Data-blocks created since ``before`` was taken."""
    return [block for collection in _id_collections() for block in collection if block.as_pointer() not in before]


def remove_unused_since(before: set[int]) -> None:
    """Remove data-blocks created since ``before`` that nothing uses, until none is left (an object
    nobody links takes its mesh with it, the mesh its materials, ...)."""
    while unused := [block for block in ids_since(before) if block.users == 0]:
        bpy.data.batch_remove(unused)


@contextlib.contextmanager
def _output_captured() -> Iterator[list[str]]:
    """Send file descriptors 1 and 2 (Blender's C code and Python both print there) to a temporary file;
    the yielded list holds the text once the block ends."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    text: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield text
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            log.seek(0)
            text.append(log.read().decode("utf-8", errors="replace"))


def last_words(error: BaseException) -> str:
    """The line of an importer's error that says what went wrong (its message, not the traceback)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip() and not line.startswith("Location:")]
    line = lines[-1] if lines else type(error).__name__
    return line.removeprefix("Error: ").removeprefix("Python: ")


@contextlib.contextmanager
def guarded_import(scene: Any, path: Path, importer: str) -> Iterator[None]:
    """Run the body (a call of Blender's ``importer``) with the scene's settings kept; on failure remove all
    it created and raise :class:`RigError`. The importer's log goes to stderr only when it succeeded."""
    before = id_pointers()
    try:
        with scene_settings_kept(scene), _output_captured() as output:
            yield
    except RigError:
        _remove_all_since(before)
        raise
    except (RuntimeError, OSError) as exc:  # bpy.ops wraps an importer's exception in RuntimeError
        _remove_all_since(before)
        raise RigError(f"{path}: Blender's {importer} importer cannot read it ({last_words(exc)})") from None
    sys.stderr.write(output[0])


def _remove_all_since(before: set[int]) -> None:
    created = ids_since(before)
    if created:
        bpy.data.batch_remove(created)
