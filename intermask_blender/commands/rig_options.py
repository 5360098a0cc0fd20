"""The rig options the Blender-side commands share: ``--map`` bone-map overrides, and loading a rig with them.

``--map JOINT=BONE`` (repeatable) or ``--map FILE.json`` (an object of joint → bone) applies to every
person's rig; ``--map-a`` and ``--map-b`` to person A's or B's only, and win over ``--map`` for the same
joint. In ``react`` person A is the partner. The overrides are stored on the armature exactly like the
panel's Bone Map overrides (so they are saved with the .blend and the panel shows them), after any the
rig file brought (a VRM's humanoid map), which they replace joint by joint.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..rigs import bonemap
from ..rigs import rig_specs as rigs
from ..seam import skeleton

_JOINTS = f"{', '.join(skeleton.JOINT_NAMES)} or {bonemap.ROOT}"
_MAP_OPTIONS = {"map": "every person's rig", "map_a": "person A's rig", "map_b": "person B's rig"}


def add_map_arguments(parser: argparse.ArgumentParser) -> None:
    """``--map``, ``--map-a`` and ``--map-b``, each repeatable."""
    for dest, whose in _MAP_OPTIONS.items():
        parser.add_argument("--" + dest.replace("_", "-"), dest=dest, action="append", default=[],
                            metavar="JOINT=BONE|FILE.json",
                            help=f"bone-map override for {whose}: which bone plays a joint ({_JOINTS}), "
                                 "or a JSON file of them; repeatable, stored on the armature like the panel's")


def _read_map_file(path: Path) -> dict[str, str]:
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--map file not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"--map file {path} is not JSON: {exc}") from None
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise UsageError(f'--map file {path} must hold one JSON object of joint → bone names, like {{"pelvis": "Hips"}}')
    return table


def _parse(values: list[str]) -> dict[str, str]:
    table: dict[str, str] = {}
    for value in values:
        joint, equals, bone = value.partition("=")
        if equals:
            if not joint.strip() or not bone.strip():
                raise UsageError(f"--map {value!r}: expected JOINT=BONE")
            table[joint.strip()] = bone.strip()
        else:
            table.update(_read_map_file(Path(value)))
    for joint in table:
        if joint not in skeleton.JOINT_INDEX and joint != bonemap.ROOT:
            raise UsageError(f"--map: unknown joint '{joint}'; expected one of {_JOINTS}")
    return table


def maps_by_person(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    """Person A's and B's overrides from the command line (files read, joints checked)."""
    both = _parse(args.map)
    return {**both, **_parse(args.map_a)}, {**both, **_parse(args.map_b)}


def load_rig(spec: str, scene: Any, person: int, overrides: dict[str, str]) -> Any:
    """The armature for ``spec`` with the command line's overrides stored on it, checked to map (so a rig
    that cannot be posed is refused before any generation or bake)."""
    armature = rigs.resolve_rig(spec, scene, person)
    for joint, bone in overrides.items():
        if bone not in armature.data.bones:
            raise UsageError(f"--map {joint}={bone}: armature '{armature.name}' ({spec}) has no bone '{bone}'")
        bonemap.set_override(armature, joint, bone)
    bonemap.bone_map_for(armature)
    return armature
