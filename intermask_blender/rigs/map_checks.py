"""Check a joint → bone map against the rig's hierarchy and rest geometry before anything is posed.

Every map goes through here: a preset's, the structural search's, and one an animator overrode. What
is caught would otherwise bake nonsense without a word: a "Hips" that is not above the legs, a knee
above its hip, a bone that plays two joints, left and right swapped. :func:`candidates` lists bones
that could play a joint a map lacks, for the message that asks the animator to choose.
"""

from __future__ import annotations

import difflib

import numpy as np

from ..seam import skeleton
from .bone_tree import BoneTree

ROOT = "root"
J = skeleton.JOINT_INDEX
PARENTS = skeleton.PARENTS
_PAIRS = tuple((skeleton.JOINT_NAMES[a], skeleton.JOINT_NAMES[b]) for a, b in skeleton.LEFT_RIGHT_PAIRS)


def _mapped_parent(joint: str, bones: dict[str, str]) -> str | None:
    """The nearest joint above ``joint`` in the 22-joint skeleton that has a bone."""
    p = PARENTS[J[joint]]
    while p >= 0 and skeleton.JOINT_NAMES[p] not in bones:
        p = PARENTS[p]
    return skeleton.JOINT_NAMES[p] if p >= 0 else None


def _hierarchy(tree: BoneTree, bones: dict[str, str], detached: tuple[str, ...]) -> list[str]:
    idx = {j: tree.index[b] for j, b in bones.items()}
    problems = []
    for joint, b in idx.items():
        if joint == ROOT:
            if "pelvis" in idx and not tree.is_ancestor(b, idx["pelvis"]):
                problems.append(f"root '{bones[ROOT]}' is not above pelvis '{bones['pelvis']}'")
            continue
        parent = _mapped_parent(joint, bones)
        if parent is None:
            continue
        if joint in detached:  # an IK-style end may hang anywhere but inside another mapped limb
            joint_of = {a: j for j, a in idx.items() if j not in ("pelvis", ROOT) and not j.startswith("spine")}
            owner = next((joint_of[a] for a in tree.ancestors(b) if a in joint_of), None)  # the nearest
            if owner is not None:
                problems.append(f"{joint} '{bones[joint]}' hangs under {owner} '{bones[owner]}'")
        elif not tree.is_ancestor(idx[parent], b):
            problems.append(f"{joint} '{bones[joint]}' is not below {parent} '{bones[parent]}' in the hierarchy")
        elif parent == "spine3" and joint != "neck" and tree.parents[b] != idx[parent]:
            between = tree.names[int(tree.parents[b])]
            problems.append(f"{joint} '{bones[joint]}' branches off '{between}', above spine3 '{bones['spine3']}'")
    return problems


def _points(tree: BoneTree, bones: dict[str, str], tail_joints: dict[str, str]) -> dict[str, np.ndarray]:
    points = {j: tree.heads[tree.index[b]] for j, b in bones.items() if j != ROOT}
    points.update({j: tree.tails[tree.index[b]] for j, b in tail_joints.items() if j not in points})
    return points


def _geometry(points: dict[str, np.ndarray], bones: dict[str, str]) -> list[str]:
    top = [points[j] for j in ("head", "neck", "spine3", "left_shoulder", "right_shoulder") if j in points]
    feet = [points[j] for j in ("left_ankle", "right_ankle") if j in points]
    if not top or not feet:
        return []
    rise = np.mean(top, axis=0) - np.mean(feet, axis=0)
    height = float(np.linalg.norm(rise))
    if height < 1e-9:
        return ["the head and the feet are at the same place"]
    up = rise / height
    slack = 0.02 * height
    problems = []
    for side in ("left", "right"):
        for upper, lower in (("hip", "knee"), ("knee", "ankle")):
            a, b = f"{side}_{upper}", f"{side}_{lower}"
            if a in points and b in points and (points[b] - points[a]) @ up > -slack:
                problems.append(f"{b} '{bones.get(b, '?')}' is not below {a} '{bones.get(a, '?')}'")
    if "pelvis" in points and (np.mean(top, axis=0) - points["pelvis"]) @ up < slack:
        problems.append(f"the head and shoulders are not above pelvis '{bones['pelvis']}'")
    above = next((j for j in ("spine1", "spine2", "spine3", "neck", "head") if j in points), None)
    if "pelvis" in points and above is not None and (points[above] - points["pelvis"]) @ up <= 0.0:
        problems.append(f"{above} '{bones[above]}' starts below pelvis '{bones['pelvis']}' (the pelvis would turn upside down)")
    problems += _sides(points, bones, up)
    return problems


def _sides(points: dict[str, np.ndarray], bones: dict[str, str], up: np.ndarray) -> list[str]:
    """Left limbs on one side, right limbs on the other; left really left where the feet say which way is front."""
    gaps = {left: points[left] - points[right] for left, right in _PAIRS if left in points and right in points}
    if not gaps:
        return []
    reference = gaps.get("left_hip", next(iter(gaps.values())))
    problems = [f"{j} and {j.replace('left_', 'right_')} are on the other sides than the hips" for j, g in gaps.items()
                if g @ reference < 0]
    forward = np.zeros(3)
    for side in ("left", "right"):
        if f"{side}_foot" in points and f"{side}_ankle" in points:
            forward += points[f"{side}_foot"] - points[f"{side}_ankle"]
    forward -= (forward @ up) * up
    if problems or np.linalg.norm(forward) < 1e-3 * float(np.linalg.norm(reference)):
        return problems
    if reference @ np.cross(up, forward) < 0:
        problems.append(f"left and right are swapped: left_hip '{bones.get('left_hip')}' is on the rig's right "
                        "(its toes point forward)")
    return problems


def map_problems(tree: BoneTree, bones: dict[str, str], detached: tuple[str, ...] = (),
                 tail_joints: dict[str, str] | None = None, hierarchy: bool = True) -> list[str]:
    """Everything wrong with ``bones`` on this rig, as sentences (empty: the map can be used).

    ``hierarchy=False`` for control rigs, whose controls are tied together by constraints, not parents.
    """
    tail_joints = tail_joints or {}
    unknown = sorted(f"{j} '{b}'" for j, b in {**bones, **tail_joints}.items() if b not in tree.index)
    if unknown:
        return [f"no such bone for {', '.join(unknown)}"]
    seen: dict[str, str] = {}
    problems = []
    for joint, bone in bones.items():
        if bone in seen:
            problems.append(f"bone '{bone}' plays both {seen[bone]} and {joint}")
        seen[bone] = joint
    if hierarchy:
        problems += _hierarchy(tree, bones, detached)
    return problems + _geometry(_points(tree, bones, tail_joints), bones)


def candidates(tree: BoneTree, bones: dict[str, str], joint: str, names: tuple[str, ...] = (), limit: int = 6) -> list[str]:
    """Bones that could play ``joint``: close names first, then unmapped bones a few levels under the
    bone of the joint above it (or the top bones, for the pelvis)."""
    used = set(bones.values())
    free = [n for n in tree.names if n not in used]
    out: list[str] = []
    for name in names:
        out += [m for m in difflib.get_close_matches(name, free, n=3, cutoff=0.6) if m not in out]
    parent = _mapped_parent(joint, bones) if joint in J else None
    if parent is not None:
        top = tree.index[bones[parent]]
        near = [b for b in tree.subtree(top) if b != top and tree.depth[b] - tree.depth[top] <= 3]
        out += [tree.names[b] for b in sorted(near, key=lambda b: tree.depth[b]) if tree.names[b] in free and tree.names[b] not in out]
    else:
        out += [tree.names[b] for b in np.argsort(-tree.descendant_counts)[:limit] if tree.names[b] in free and tree.names[b] not in out]
    return out[:limit]
