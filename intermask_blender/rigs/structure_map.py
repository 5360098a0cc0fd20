"""The 22-joint map of a rig found from its bone tree alone, and the extras any map needs.

:func:`structure_map` names the joints of the body :mod:`body_frame` finds, with left and right from the
rig's own frame: forward is where the toes point (else where the knees bend), left is up × forward. Only
where the rest pose cannot say (no toes, straight knees) do side markers in bone names decide, and last
the Blender convention of facing -Y in the world. :func:`annotate` adds to ANY map (preset, structural,
overridden) its detached ends and twist bones, from the hierarchy and the rest geometry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .body_frame import (
    Body,
    find_body,
    find_legs,
    head_chain,
    root_bone,
    spine_bones,
    unit,
)
from .bone_tree import BoneTree
from .limb_joints import Limb, arm, leg

ROOT = "root"
#: (segment start, segment end) of the limb segments whose twist is shared with twist bones.
SEGMENTS = tuple((f"{s}_{a}", f"{s}_{b}") for s in ("left", "right")
                 for a, b in (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"), ("elbow", "wrist")))
#: (end joint, the joint above it): an end whose bone is not under that joint's bone is detached.
ENDS = tuple((f"{s}_{a}", f"{s}_{b}") for s in ("left", "right") for a, b in (("ankle", "knee"), ("wrist", "elbow")))
_SEPARATED_SIDE = re.compile(r"(?:^|[._\-: |])([LR])(?:[._\-: |]|$)", re.IGNORECASE)  # thigh.L, upperarm_r, L_Thigh
_CAMEL_SIDE = re.compile(r"[a-z0-9]([LR])$|^([lLrR])[A-Z]")  # UpperLegR, lThighBend (not "Ribs", "Root")


def name_side(name: str) -> str | None:
    """'left'/'right' where a bone name says so explicitly (``thigh.L``, ``UpperLegR``, ``L_Thigh``, ``left``)."""
    lowered = name.lower()
    if ("left" in lowered) != ("right" in lowered):
        return "left" if "left" in lowered else "right"
    short = name.rsplit(":", 1)[-1]
    match = _SEPARATED_SIDE.search(short) or _CAMEL_SIDE.search(short)
    if match is None:
        return None
    letter = next(g for g in match.groups() if g)
    return "left" if letter.upper() == "L" else "right"


@dataclass
class Found:
    """A structural map: joint → bone name, plus what the posing side needs to know about it."""

    bones: dict[str, str]
    detached: tuple[str, ...] = ()
    tail_joints: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _forward(tree: BoneTree, body: Body, legs: tuple[Limb, Limb]) -> np.ndarray:
    """Which way the body faces: toes, else bent knees, else names, else the world's -Y."""
    axis = unit(np.cross(body.up, body.lateral))
    scale = max(body.height, 1e-9)
    toes = sum(float((tree.heads[lg.bones["foot"]] - lg.end_point) @ axis) for lg in legs if "foot" in lg.bones)
    if abs(toes) > 0.02 * scale:
        return axis * np.sign(toes)
    knees = 0.0
    for lg in legs:
        if {"hip", "knee"} <= lg.bones.keys():
            line = (tree.heads[lg.bones["hip"]] + lg.end_point) / 2.0
            knees += float((tree.heads[lg.bones["knee"]] - line) @ axis)
    if abs(knees) > 0.01 * scale:
        return axis * np.sign(knees)
    sides = [name_side(tree.names[b]) for b in (body.legs.a, body.legs.b)]
    if set(sides) == {"left", "right"}:  # left = up × forward, so forward = left × up
        return unit(np.cross(body.legs.normal if sides[0] == "left" else -body.legs.normal, body.up))
    world_back = tree.world_rotation.T @ np.array([0.0, -1.0, 0.0])
    return axis * (np.sign(world_back @ axis) or 1.0)


def _spine_joints(spine: list[int]) -> dict[str, int]:
    """spine1 is the first bone above the pelvis, spine3 the arms' parent, spine2 in between."""
    if not spine:
        return {}
    if len(spine) == 1:
        return {"spine3": spine[0]}
    joints = {"spine1": spine[0], "spine3": spine[-1]}
    if len(spine) >= 3:
        joints["spine2"] = spine[(len(spine) - 1) // 2]
    return joints


def structure_map(tree: BoneTree) -> Found:
    """Map the 22 joints (and a root bone on the floor) from the bone tree's topology and rest geometry."""
    body = find_body(tree) or find_legs(tree)
    if body is None:
        return Found({}, problems=["no pair of mirror-image legs below a pair of mirror-image arms was found"])
    spine, head = spine_bones(tree, body), head_chain(tree, body)
    taken = {body.pelvis, *spine, *head, *tree.ancestors(body.pelvis)}
    # a spine bone that starts below the pelvis joint (RobotExpressive's Hips, under Body) would turn the
    # pelvis's rest "up" upside down: it stays unmapped and is carried by the pelvis
    spine = [b for b in spine if (tree.heads[b] - tree.heads[body.pelvis]) @ body.up > 0.01 * body.height]
    pairs = [pair for pair in (body.legs, body.arms) if pair is not None]
    for pair in pairs:
        taken.update(tree.subtree(pair.a), tree.subtree(pair.b))
    legs = (leg(tree, body, body.legs.chain_a, taken), leg(tree, body, body.legs.chain_b, taken))
    arms = (arm(tree, body, body.arms.chain_a, taken), arm(tree, body, body.arms.chain_b, taken)) if body.arms else ()
    left = np.cross(body.up, _forward(tree, body, legs))
    bones: dict[str, int] = {"pelvis": body.pelvis, **_spine_joints(spine)}
    if head:
        bones["head"] = head[-1]
        if len(head) >= 2:
            bones["neck"] = head[0]
    root = root_bone(tree, body)
    if root is not None:
        bones[ROOT] = root
    found = Found({}, problems=[] if body.arms else ["no two mirror-image arms hang from a spine above the legs"])
    for pair, limbs in zip(pairs, (legs, arms)):
        a_side = "left" if pair.normal @ left > 0 else "right"
        for limb, side in zip(limbs, (a_side, "right" if a_side == "left" else "left")):
            bones.update({f"{side}_{part}": b for part, b in limb.bones.items()})
            found.problems += limb.problems
            end = f"{side}_ankle" if limb in legs else f"{side}_wrist"
            if limb.detached:
                found.detached += (end,)
            if limb.tail_bone is not None:
                found.tail_joints[end] = tree.names[limb.tail_bone]
    found.bones = {j: tree.names[b] for j, b in bones.items()}
    return found


def floor_root(tree: BoneTree, bones: dict[str, str]) -> str | None:
    """For a map without a root: the pelvis's nearest ancestor lying on the floor its feet stand on."""
    feet = [tree.heads[tree.index[bones[j]]] for j in ("left_ankle", "right_ankle", "left_foot", "right_foot") if j in bones]
    top = [tree.heads[tree.index[bones[j]]] for j in ("head", "neck", "spine3") if j in bones]
    if "pelvis" not in bones or not feet or not top:
        return None
    rise = np.mean(top, axis=0) - np.mean(feet, axis=0)
    up, height = unit(rise), float(np.linalg.norm(rise))
    floor = float(min(p @ up for p in feet))
    return next((tree.names[a] for a in tree.ancestors(tree.index[bones["pelvis"]])
                 if abs(float(tree.heads[a] @ up) - floor) < 0.1 * height), None)


def detached_ends(tree: BoneTree, bones: dict[str, str]) -> tuple[str, ...]:
    """End joints (ankles, wrists) whose bone does not hang under the joint above it."""
    out = []
    for end, above in ENDS:
        known = end in bones and above in bones and bones[end] in tree.index and bones[above] in tree.index
        if known and not tree.is_ancestor(tree.index[bones[above]], tree.index[bones[end]]):
            out.append(end)
    return tuple(out)


def _segment_end(tree: BoneTree, bones: dict[str, str], tail_joints: dict[str, str], joint: str) -> np.ndarray | None:
    if joint in bones:
        return tree.heads[tree.index[bones[joint]]]
    if joint in tail_joints:
        return tree.tails[tree.index[tail_joints[joint]]]
    return None


def twist_bones(tree: BoneTree, bones: dict[str, str], tail_joints: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Per limb segment (by its start joint): the bones that share its twist.

    In the chain (Daz's ``lShldrTwist`` between ``lShldrBend`` and ``lForearmBend``): every bone between
    the two joints' bones. Beside it (UE's ``upperarm_twist_01_l``, CC's ``L_ForearmTwist01``): small
    unmapped children of those bones whose heads lie along the segment.
    """
    used = set(bones.values()) | set(tail_joints.values())
    out: dict[str, tuple[str, ...]] = {}
    for start, stop in SEGMENTS:
        if start not in bones or bones[start] not in tree.index:
            continue
        top = tree.index[bones[start]]
        end = _segment_end(tree, bones, tail_joints, stop)
        if end is None:
            continue
        inner: list[int] = []
        if stop in bones and tree.is_ancestor(top, tree.index[bones[stop]]):
            inner = tree.path_down(top, tree.index[bones[stop]])[:-1]
        elif stop in tail_joints and tree.index[tail_joints[stop]] != top:
            inner = tree.path_down(top, tree.index[tail_joints[stop]])
        segment = end - tree.heads[top]
        length = float(np.linalg.norm(segment))
        if length < 1e-9:
            continue
        beside = []
        for owner in (top, *inner):
            for child in tree.children[owner]:
                if child in inner or tree.names[child] in used or tree.descendant_counts[child] > 2:
                    continue
                offset = tree.heads[child] - tree.heads[top]
                t = float(offset @ segment) / length ** 2
                if -0.05 <= t < 0.97 and np.linalg.norm(offset - t * segment) < 0.15 * length:
                    beside.append((t, child))
        twists = [tree.names[b] for b in inner] + [tree.names[b] for _, b in sorted(beside)]
        if twists:
            out[start] = tuple(twists)
    return out

