"""From a finished job to keys on rigs: the one bake path the panel and ``intermask generate`` share.

A generate job's clip holds both people (A, B). A react job keeps the partner (person A) as it was
animated, so only person B is baked. An empty rig slot gets the built-in mannequin.
"""

# fake-bpy-module types every context member as Optional and RNA collections as unions of all ID types:
# mypy: disable-error-code="union-attr,override,attr-defined,assignment"

from __future__ import annotations

from pathlib import Path

import bpy

from ..errors import InterMaskError
from ..rigs import bonemap
from ..rigs import rig_specs as rigs
from ..seam import clip_file as clipmod
from . import bake

MODES = ("GENERATE", "REACT")
#: Action names start with the prompt; Blender 4.2 cuts ID names at 63 bytes, and the rig name follows.
NAME_CHARS = 40


class ResultError(InterMaskError, RuntimeError):
    """A result that cannot be baked (missing file, wrong mode, no rig); the message is for the user."""


def load_variation(paths: list[str], number: int) -> clipmod.Clip:
    """Variation ``number`` (1-based) of a job's clip files."""
    if not paths:
        raise ResultError("nothing generated yet: press Generate first")
    if not 1 <= number <= len(paths):
        raise ResultError(f"variation {number} does not exist (there are {len(paths)})")
    try:
        return clipmod.Clip.load(Path(paths[number - 1]))
    except clipmod.ClipError as exc:
        raise ResultError(str(exc)) from exc


def people_to_bake(clip: clipmod.Clip, mode: str) -> tuple[clipmod.Clip, tuple[int, ...]]:
    """(the clip to bake, which person slots it fills): both for generate, only B for react."""
    if mode not in MODES:
        raise ResultError(f"unknown mode {mode!r}")
    if mode == "GENERATE":
        if clip.num_people != 2:
            raise ResultError(f"a generated interaction needs two people, the clip holds {clip.num_people}")
        return clip, (0, 1)
    return (clip.person(1) if clip.num_people == 2 else clip), (1,)


def bake_result(scene: bpy.types.Scene, clip: clipmod.Clip, mode: str,
                rigs_by_person: list[bpy.types.Object | None], *, name: str,
                frame_start: int | None = None, partner: bpy.types.Object | None = None) -> bake.BakeReport:
    """Bake ``clip`` (as :func:`people_to_bake` decides) onto the given rigs, building mannequins where a
    slot is None; in react mode B is placed in ``partner``'s frame (the one it was read in), wherever B's
    rig stands. One data operation, so an operator with UNDO reverts it in one step; the given rigs'
    bone maps are checked before anything is created, so a rig that cannot be mapped changes nothing."""
    to_bake, slots = people_to_bake(clip, mode)
    for slot in slots:
        given = rigs_by_person[slot]
        if given is not None:
            try:
                bonemap.bone_map_for(given)
            except bonemap.BoneMapError as exc:
                raise ResultError(str(exc)) from exc
    armatures = [rigs_by_person[slot] or rigs.resolve_rig("mannequin", scene, slot) for slot in slots]
    short = name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1].rstrip() + "…"
    anchor = partner if mode == "REACT" else None
    return bake.bake_clip(scene, to_bake, armatures, name=short, frame_start=frame_start, anchor=anchor)
