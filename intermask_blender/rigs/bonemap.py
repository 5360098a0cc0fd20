"""Which bone of a real armature plays which of the clip's 22 joints.

Rigs from different tools name the same bones differently (``mixamorig:LeftUpLeg``, ``thigh.L``,
``CC_Base_L_Thigh``, ``lThigh``...). A preset lists those names per joint; names are compared after
normalisation (namespace, ``DEF-``/``ORG-``/``CC_Base_`` prefixes, case and separators removed), so one
preset also covers e.g. generated Rigify rigs and ``mixamorig1:`` exports. The preset matching the most
bones wins where it maps every essential joint and passes the checks of :mod:`map_checks`; otherwise the
rig is mapped by its structure (:mod:`structure_map`: topology and rest geometry, names only as hints).
An animator's per-armature overrides (stored ON the armature data, editable in the panel) take
precedence over either. The final map is checked against the hierarchy and the rest geometry, and a
:class:`BoneMapError` says what mapped, what did not or is wrong, and which bones could play the rest.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field
from typing import Any

import bpy
import numpy as np

from ..errors import InterMaskError
from ..seam import skeleton
from .bone_tree import BoneTree, bone_tree_of
from .map_checks import candidates as candidate_bones
from .map_checks import map_problems
from .structure_map import detached_ends, floor_root, structure_map, twist_bones

J = skeleton.JOINT_INDEX

#: Joints without which a body cannot be posed.
ESSENTIAL_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
#: At least one joint of each group must be mapped.
ESSENTIAL_ANY: tuple[tuple[str, ...], ...] = (("spine1", "spine2", "spine3"), ("neck", "head"))

#: The optional extra joint "root": a bone above the pelvis that carries the ground-plane root motion.
ROOT = "root"


def _sided(template: str) -> dict[str, str]:
    """Expand a left/right template into the two joint entries it names.

    ``{Side}`` → Left/Right, ``{side}`` → left/right, ``{S}`` → L/R, ``{s}`` → l/r.
    """
    out = {}
    for side, (long_name, short) in (("left", ("Left", "L")), ("right", ("Right", "R"))):
        out[side] = template.format(Side=long_name, side=long_name.lower(), S=short, s=short.lower())
    return out


def _preset(center: dict[str, str | tuple[str, ...]], sided: dict[str, str | tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Build a joint → candidate names table from centre joints and left/right templates."""
    table: dict[str, tuple[str, ...]] = {k: (v,) if isinstance(v, str) else v for k, v in center.items()}
    for joint, templates in sided.items():
        templates = (templates,) if isinstance(templates, str) else templates
        for side in ("left", "right"):
            table[f"{side}_{joint}"] = tuple(_sided(t)[side] for t in templates)
    return table


_SMPL_LIMBS = {name: f"{{side}}_{name}" for name in ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist")}

PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    # Our own mannequin and SMPL / SMPL-X exports use the 22 joint names themselves.
    "smpl": _preset(
        {"pelvis": "pelvis", "spine1": "spine1", "spine2": "spine2", "spine3": "spine3", "neck": "neck", "head": "head", ROOT: "root"},
        {k: (v, "{S}_" + k.capitalize()) for k, v in _SMPL_LIMBS.items()},
    ),
    "rigify": _preset(
        {"pelvis": "spine", "spine1": "spine.001", "spine2": "spine.002", "spine3": "spine.003",
         "neck": "spine.004", "head": "spine.006", ROOT: "root"},
        {"hip": "thigh.{S}", "knee": "shin.{S}", "ankle": "foot.{S}", "foot": "toe.{S}", "collar": "shoulder.{S}",
         "shoulder": "upper_arm.{S}", "elbow": "forearm.{S}", "wrist": "hand.{S}"},
    ),
    "mixamo": _preset(
        {"pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head"},
        {"hip": "{Side}UpLeg", "knee": "{Side}Leg", "ankle": "{Side}Foot", "foot": "{Side}ToeBase",
         "collar": "{Side}Shoulder", "shoulder": "{Side}Arm", "elbow": "{Side}ForeArm", "wrist": "{Side}Hand"},
    ),
    "cmu_motionbuilder": _preset(
        {"pelvis": "Hips", "spine1": "LowerBack", "spine2": "Spine", "spine3": "Spine1", "neck": "Neck", "head": "Head"},
        {"hip": "{Side}UpLeg", "knee": "{Side}Leg", "ankle": "{Side}Foot", "foot": "{Side}ToeBase",
         "collar": "{Side}Shoulder", "shoulder": "{Side}Arm", "elbow": "{Side}ForeArm", "wrist": "{Side}Hand"},
    ),
    "ue4_mannequin": _preset(
        {"pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_02", "spine3": "spine_03", "neck": "neck_01",
         "head": "head", ROOT: "root"},
        {"hip": "thigh_{s}", "knee": "calf_{s}", "ankle": "foot_{s}", "foot": "ball_{s}", "collar": "clavicle_{s}",
         "shoulder": "upperarm_{s}", "elbow": "lowerarm_{s}", "wrist": "hand_{s}"},
    ),
    "ue5_mannequin": _preset(
        {"pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_03", "spine3": "spine_05", "neck": "neck_01",
         "head": "head", ROOT: "root"},
        {"hip": "thigh_{s}", "knee": "calf_{s}", "ankle": "foot_{s}", "foot": "ball_{s}", "collar": "clavicle_{s}",
         "shoulder": "upperarm_{s}", "elbow": "lowerarm_{s}", "wrist": "hand_{s}"},
    ),
    "character_creator": _preset(
        {"pelvis": "Hip", "spine1": "Waist", "spine2": "Spine01", "spine3": "Spine02", "neck": "NeckTwist01",
         "head": "Head", ROOT: "BoneRoot"},
        {"hip": "{S}_Thigh", "knee": "{S}_Calf", "ankle": "{S}_Foot", "foot": "{S}_ToeBase", "collar": "{S}_Clavicle",
         "shoulder": "{S}_Upperarm", "elbow": "{S}_Forearm", "wrist": "{S}_Hand"},
    ),
    # cgspeed's "Daz-friendly" CMU BVH files (the salsa pairs in ../shared/data/cmu/bvh_daz). As in the
    # clip converter, chest plays spine2; spine3 lies inside the chest bone and is bridged by it.
    "daz_bvh": _preset(
        {"pelvis": "hip", "spine1": "abdomen", "spine2": "chest", "neck": "neck", "head": "head"},
        {"hip": "{s}Thigh", "knee": "{s}Shin", "ankle": "{s}Foot", "foot": "{s}Toe", "collar": "{s}Collar",
         "shoulder": "{s}Shldr", "elbow": "{s}ForeArm", "wrist": "{s}Hand"},
    ),
    # Generated Rigify rigs: the FK controls an animator keys (their DEF-/ORG- bones follow them through
    # constraints, so keys there would be overridden). The torso control pivots above the hips, so the
    # pelvis joint is placed by PELVIS_PIVOTS; spine1 lies in the lower torso, which moves rigidly with it.
    "rigify_controls": _preset(
        {"pelvis": "torso", "spine2": "spine_fk.002", "spine3": "spine_fk.003", "neck": "neck", "head": "head"},
        {"hip": "thigh_fk.{S}", "knee": "shin_fk.{S}", "ankle": "foot_fk.{S}", "foot": "toe_fk.{S}", "collar": "shoulder.{S}",
         "shoulder": "upper_arm_fk.{S}", "elbow": "forearm_fk.{S}", "wrist": "hand_fk.{S}"},
    ),
    "daz_genesis": _preset(
        {"pelvis": "hip", "spine1": "abdomenLower", "spine2": "abdomenUpper", "spine3": "chestUpper",
         "neck": "neckLower", "head": "head"},
        {"hip": "{s}ThighBend", "knee": "{s}Shin", "ankle": "{s}Foot", "foot": "{s}Toe", "collar": "{s}Collar",
         "shoulder": "{s}ShldrBend", "elbow": "{s}ForearmBend", "wrist": "{s}Hand"},
    ),
}

#: Control-rig presets: one that maps every essential joint wins over presets matching deform bones.
CONTROL_PRESETS = ("rigify_controls",)
#: The preset of each control rig's own skeleton (ORG-/DEF- bones): what its pose is read from.
SKELETON_OF = {"rigify_controls": "rigify"}
#: Where a preset's pelvis bone does not start at the pelvis joint: the bone whose head marks the joint.
PELVIS_PIVOTS = {"rigify_controls": "ORG-spine"}
#: Custom properties a control rig needs while it plays our keys, keyed with the action so the animator
#: sees them and can change them: FK limbs that do not follow the root, neck and head following the chest.
SETTINGS: dict[str, dict[str, float]] = {
    "rigify_controls": {
        **{f'pose.bones["{limb}_parent.{side}"]["{prop}"]': value
           for limb in ("upper_arm", "thigh") for side in "LR" for prop, value in (("IK_FK", 1.0), ("FK_limb_follow", 0.0))},
        'pose.bones["torso"]["neck_follow"]': 1.0,
        'pose.bones["torso"]["head_follow"]': 1.0,
    },
}

_PREFIXES = re.compile(r"^(def|org|cc_base|rl|mixamorig\d*|smplx|m_avg|f_avg|bip\d*)[-_: ]", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def normalise(name: str) -> str:
    """The comparable key of a bone name: no namespace or tool prefix, lower case, letters and digits only."""
    name = name.rsplit(":", 1)[-1].rsplit("|", 1)[-1]
    while True:
        stripped = _PREFIXES.sub("", name)
        if stripped == name:
            break
        name = stripped
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _side(key: str) -> str | None:
    """Left/right of a normalised key, so close spellings never pair a left bone with a right joint."""
    for side in ("left", "right"):
        if side in key:
            return side
    for char, side in (("l", "left"), ("r", "right")):
        if key.endswith(char) or key.startswith(char):
            return side
    return None


class BoneMapError(InterMaskError, ValueError):
    """The armature lacks bones the solver cannot do without; the message lists them."""


@dataclass
class BoneMap:
    """Joint name (one of the 22, or ``root``) → bone name, plus where the mapping came from."""

    armature: str
    bones: dict[str, str]
    preset: str
    overridden: tuple[str, ...] = ()
    pelvis_pivot: str | None = None  # bone whose rest head is the pelvis joint, where the pelvis bone's is not
    settings: dict[str, float] = field(default_factory=dict)  # custom property path → value to key (where it exists)
    #: Joints whose bone does not hang under its limb chain (IK-style feet or hands parented to the root or a
    #: control): the retarget places such a bone at the chain's end and drives the chain itself.
    detached: tuple[str, ...] = ()
    #: Joints a rig has no bone for but whose position is the tail of a mapped bone (a rig without hand
    #: bones: the wrist is the forearm's end), joint → that bone.
    tail_joints: dict[str, str] = field(default_factory=dict)
    #: Twist bones that share the twist of the segment that starts at a joint ("left_elbow" → forearm twists).
    twist: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def missing_essential(self) -> list[str]:
        missing = [j for j in ESSENTIAL_JOINTS if j not in self.bones and j not in self.tail_joints]
        missing += ["/".join(group) for group in ESSENTIAL_ANY if not any(j in self.bones for j in group)]
        return missing

    def require_essential(self) -> BoneMap:
        """Raise :class:`BoneMapError` naming every essential joint with no bone."""
        missing = self.missing_essential()
        if missing:
            raise BoneMapError(
                f"armature '{self.armature}' cannot be retargeted: no bone found for {', '.join(missing)} "
                f"(best preset '{self.preset}' mapped {len(self.bones)} joints). Set these in the bone-map "
                f"overrides of the armature."
            )
        return self


def _keyed(bone_names: list[str]) -> dict[str, str]:
    """Normalised key → bone name: a bone named exactly so wins, then deform bones, then the rest."""
    by_key: dict[str, str] = {}
    for name in sorted(bone_names, key=lambda n: not n.upper().startswith("DEF-")):
        by_key.setdefault(normalise(name), name)
    for name in bone_names:  # "shoulder.L" is the control a preset names, not DEF-shoulder.L
        by_key[name] = name
    return by_key


def _exact(by_key: dict[str, str], preset: dict[str, tuple[str, ...]]) -> dict[str, str]:
    found = {}
    for joint, candidates in preset.items():
        bone = next((by_key[k] for k in (*candidates, *map(normalise, candidates)) if k in by_key), None)
        if bone is not None:
            found[joint] = bone
    return found


def match_preset(bone_names: list[str], preset: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Map joints to bones by normalised name, then by close spelling on the same side."""
    by_key = _keyed(bone_names)
    result = _exact(by_key, preset)
    keys = list(by_key)
    for joint in preset.keys() - result.keys() - {ROOT}:  # a root bone is optional: exact names only
        for key in map(normalise, preset[joint]):
            close = [k for k in difflib.get_close_matches(key, keys, n=3, cutoff=0.86) if _side(k) == _side(key)]
            if close:
                result[joint] = by_key[close[0]]
                break
    used: set[str] = set()
    for joint in [j for j in preset if j in result]:  # one bone cannot play two joints
        if result[joint] in used:
            del result[joint]
        else:
            used.add(result[joint])
    return result


def _ranked(by_key: dict[str, str]) -> list[str]:
    """Presets best first: a control-rig preset that maps every essential joint exactly, then by the
    number of exact name matches (ties: the earlier preset)."""
    exact = {p: _exact(by_key, PRESETS[p]) for p in PRESETS}
    controls = [p for p in CONTROL_PRESETS if not BoneMap("", exact[p], p).missing_essential()]
    return controls + sorted((p for p in PRESETS if p not in controls), key=lambda p: -len(exact[p]))


def _preset_map(armature_name: str, bone_names: list[str], preset: str) -> BoneMap:
    bones = match_preset(bone_names, PRESETS[preset])
    pivot = PELVIS_PIVOTS.get(preset)
    return BoneMap(armature_name, bones, preset, pelvis_pivot=pivot if pivot in set(bone_names) else None,
                   settings=dict(SETTINGS.get(preset, {})))


def guess_bone_map(armature_name: str, bone_names: list[str]) -> BoneMap:
    """The best preset's map by names alone (:func:`_ranked`), close spellings included."""
    return _preset_map(armature_name, bone_names, _ranked(_keyed(bone_names))[0])


def overrides_of(armature_data: Any) -> dict[str, str]:
    """The animator's joint → bone overrides stored on the armature (empty where none or unregistered)."""
    items = getattr(armature_data, "intermask_bone_map", None)
    if items is None:
        return {}
    return {item.joint: item.bone for item in items if item.joint and item.bone}


def _annotated(bone_map: BoneMap, tree: BoneTree) -> BoneMap:
    """``bone_map`` with its detached ends and twist bones, read from the rig for whatever bones it maps."""
    bone_map.detached = detached_ends(tree, bone_map.bones)
    bone_map.twist = twist_bones(tree, bone_map.bones, bone_map.tail_joints)
    return bone_map


def _problems(bone_map: BoneMap, tree: BoneTree, constrained: bool = False) -> list[str]:
    """``constrained``: a control rig's skeleton, whose bones follow its controls by constraints (their
    parents say nothing); a control preset's map is one too."""
    return map_problems(tree, bone_map.bones, detached_ends(tree, bone_map.bones), bone_map.tail_joints,
                        hierarchy=not constrained and bone_map.preset not in CONTROL_PRESETS)


def automatic_map(armature_name: str, tree: BoneTree) -> BoneMap:
    """The best preset's map that maps every essential joint and passes the checks (the UE5 mannequin's
    names also match the UE4 preset, whose spine3 the arms do not hang from), else the map found by
    structure, with the best preset's names added for joints the structure left open where they fit."""
    by_key = _keyed(tree.names)
    ranked = _ranked(by_key)
    named = _preset_map(armature_name, tree.names, ranked[0])
    others = [p for p in ranked[1:] if not BoneMap("", _exact(by_key, PRESETS[p]), p).missing_essential()]
    for option in [named] + [_preset_map(armature_name, tree.names, p) for p in others]:
        if not option.missing_essential() and not _problems(option, tree):
            root = floor_root(tree, option.bones) if option.preset not in CONTROL_PRESETS else None
            if ROOT not in option.bones and root is not None and root not in option.bones.values():
                option.bones[ROOT] = root  # e.g. IK feet under a root bone the preset does not name
            return _annotated(option, tree)
    found = structure_map(tree)
    guessed = BoneMap(armature_name, dict(found.bones), "structure", tail_joints=dict(found.tail_joints))
    if len(guessed.missing_essential()) >= len(named.missing_essential()):  # neither maps: show the closer one
        return _annotated(named, tree)
    for joint, bone in named.bones.items():  # names as hints: only where they add a joint without a conflict
        if joint not in guessed.bones and joint not in guessed.tail_joints and bone not in guessed.bones.values():
            trial = BoneMap(armature_name, {**guessed.bones, joint: bone}, guessed.preset, tail_joints=guessed.tail_joints)
            if not _problems(trial, tree):
                guessed.bones[joint] = bone
    return _annotated(guessed, tree)


_CACHE: dict[tuple[str, bytes, bytes], BoneMap] = {}


def automatic_map_of(armature: Any) -> BoneMap:
    """:func:`automatic_map` of an armature object, remembered per rest pose: the panel redraws often and
    the structural search takes tens of milliseconds on a big rig."""
    tree = bone_tree_of(armature)
    key = ("\0".join(tree.names), tree.parents.tobytes(), np.round(tree.heads, 6).tobytes())
    if key not in _CACHE:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = automatic_map(armature.name, tree)
    found = _CACHE[key]
    return BoneMap(armature.name, dict(found.bones), found.preset, (), found.pelvis_pivot, dict(found.settings),
                   found.detached, dict(found.tail_joints), dict(found.twist))


def _checked(bone_map: BoneMap, tree: BoneTree, constrained: bool = False) -> BoneMap:
    """Raise :class:`BoneMapError` naming what is missing or wrong, what mapped, and candidate bones."""
    missing, problems = bone_map.missing_essential(), _problems(bone_map, tree, constrained)
    if not missing and not problems:
        return bone_map
    said = []
    if missing:
        said.append(f"no bone found for {', '.join(missing)}")
    said += problems
    mapped = ", ".join(f"{j}={b}" for j, b in bone_map.bones.items()) or "nothing"
    tails = "".join(f", {j}=tail of {b}" for j, b in bone_map.tail_joints.items())
    lines = []
    for joint in (j for group in missing for j in group.split("/")):
        names = tuple(n for preset in PRESETS.values() for n in preset.get(joint, ()))
        found = candidate_bones(tree, bone_map.bones, joint, names)
        lines.append(f"{joint}: {', '.join(found) if found else 'none'}")
    hint = f" Candidates: {'; '.join(lines)}." if lines else ""
    overridden = f" (overridden: {', '.join(bone_map.overridden)})" if bone_map.overridden else ""
    raise BoneMapError(
        f"armature '{bone_map.armature}' cannot be retargeted: {'; '.join(said)}. Mapped by {bone_map.preset}"
        f"{overridden}: {mapped}{tails}.{hint} Set the joints in the bone-map overrides of the armature "
        "(panel, or --map joint=bone on the command line)."
    )


def bone_map_for(armature: Any, reading: bool = False) -> BoneMap:
    """The checked bone map of an armature object: preset or structure, then the overrides stored on it.

    ``reading``: the bones that show the pose. A control rig is keyed through its controls, but an
    animator may drive it by IK or anything else, so its pose is read from its own skeleton.
    """
    tree = bone_tree_of(armature)
    guessed = automatic_map(armature.name, tree)
    if reading and guessed.preset in SKELETON_OF:
        preset = SKELETON_OF[guessed.preset]
        skeleton_map = BoneMap(armature.name, match_preset(tree.names, PRESETS[preset]), preset)
        return _checked(_annotated(skeleton_map, tree), tree, constrained=True)
    overrides = overrides_of(armature.data)
    unknown = {j: b for j, b in overrides.items() if b not in armature.data.bones or (j not in J and j != ROOT)}
    if unknown:
        raise BoneMapError(f"armature '{armature.name}' has bone-map overrides naming unknown joints or bones: {unknown}")
    bones = {j: b for j, b in guessed.bones.items() if b not in overrides.values()}
    bones.update(overrides)
    above = {j: skeleton.JOINT_NAMES[skeleton.PARENTS[J[j]]] for j in guessed.tail_joints}
    tail_joints = {j: b for j, b in guessed.tail_joints.items()  # a wrist at the forearm's tail, while that forearm stays
                   if j not in bones and bones.get(above[j]) == guessed.bones.get(above[j])}
    pivot = guessed.pelvis_pivot if bones.get("pelvis") == guessed.bones.get("pelvis") else None
    final = BoneMap(armature.name, bones, guessed.preset, tuple(sorted(overrides)), pivot, guessed.settings,
                    tail_joints=tail_joints)
    return _checked(_annotated(final, tree), tree)


def set_override(armature: Any, joint: str, bone: str) -> None:
    """Store one override on the armature data (needs :func:`register` to have run)."""
    if joint not in J and joint != ROOT:
        raise BoneMapError(f"unknown joint '{joint}'; expected one of {', '.join(skeleton.JOINT_NAMES)} or '{ROOT}'")
    if bone not in armature.data.bones:
        raise BoneMapError(f"armature '{armature.name}' has no bone '{bone}'")
    items = getattr(armature.data, "intermask_bone_map", None)
    if items is None:
        raise BoneMapError("bone-map overrides are not registered; call intermask_blender.bonemap.register() first")
    for item in items:
        if item.joint == joint:
            item.bone = bone
            return
    item = items.add()
    item.joint, item.bone = joint, bone


class IM_BoneMapOverride(bpy.types.PropertyGroup):
    """One animator-chosen joint → bone pair, kept with the armature so it travels with the .blend."""

    joint: bpy.props.StringProperty(name="Joint", description="One of the 22 clip joints, or 'root'")  # type: ignore[valid-type]
    bone: bpy.props.StringProperty(name="Bone", description="Bone of this armature that plays the joint")  # type: ignore[valid-type]


def register() -> None:
    """Register the override PropertyGroup as ``Armature.intermask_bone_map`` (idempotent)."""
    if getattr(IM_BoneMapOverride, "is_registered", False):
        return
    bpy.utils.register_class(IM_BoneMapOverride)
    bpy.types.Armature.intermask_bone_map = bpy.props.CollectionProperty(type=IM_BoneMapOverride)  # type: ignore[attr-defined]


def unregister() -> None:
    if not getattr(IM_BoneMapOverride, "is_registered", False):
        return
    del bpy.types.Armature.intermask_bone_map  # type: ignore[attr-defined]
    bpy.utils.unregister_class(IM_BoneMapOverride)
