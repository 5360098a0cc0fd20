"""Where a humanoid's limbs are in a bone tree, and which way is up, left and forward in the rig's own frame.

A body is two mirror-image legs, two mirror-image arms that hang off a bone above the legs, and a spine
between them. Mirror pairs are found among sibling bones (a left and a right limb always share a parent
in the rigs animators bring); the leg and arm pairs are the pair of pairs that best forms a standing
body: legs that drop most of the body's height, arms that start in its upper half, both mirrored across
the same plane. Nothing here reads a bone's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from .bone_tree import BoneTree

#: Largest mirror error of two limbs' chains, relative to the chain length, still counted a pair.
MIRROR_TOLERANCE = 0.3
#: Bones compared along each chain of a mirror pair.
COMPARED_BONES = 5


def unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 else np.zeros_like(v)


def principal_chain(tree: BoneTree, start: int) -> list[int]:
    """``start`` and the child that continues it, repeatedly: the child with the most descendants (the
    forearm, not its twist bone), on a tie the one that reaches farthest from ``start``. A leaf that
    starts inside its parent (a twist bone of a forearm without a hand) does not continue it."""
    chain = [start]
    origin = tree.heads[start]
    while kids := [k for k in tree.children[chain[-1]] if tree.children[k] or not _inside(tree, chain[-1], k)]:
        most = max(tree.descendant_counts[k] for k in kids)
        tied = [k for k in kids if tree.descendant_counts[k] == most]
        chain.append(tied[0] if len(tied) == 1 else max(tied, key=lambda k: _reach(tree, k, origin)))
    return chain


def _inside(tree: BoneTree, bone: int, child: int) -> bool:
    """Whether ``child`` starts inside ``bone`` (a twist bone beside it, not its continuation)."""
    axis = tree.tails[bone] - tree.heads[bone]
    length = float(axis @ axis)
    t = float((tree.heads[child] - tree.heads[bone]) @ axis) / length if length > 1e-18 else 1.0
    return 0.05 < t < 0.9


def _reach(tree: BoneTree, b: int, origin: np.ndarray) -> float:
    sub = tree.subtree(b)
    return float(np.linalg.norm(np.concatenate([tree.heads[sub], tree.tails[sub]]) - origin, axis=1).max())


def chain_points(tree: BoneTree, chain: list[int]) -> np.ndarray:
    """Heads of ``chain`` and the tail of its last bone [len+1, 3]."""
    return np.concatenate([tree.heads[chain], tree.tails[chain[-1]][None]])


def path_length(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum()) if len(points) > 1 else 0.0


@dataclass
class LimbPair:
    """Two sibling bones whose chains mirror each other."""

    a: int
    b: int
    chain_a: list[int]
    chain_b: list[int]
    normal: np.ndarray  # unit, from b's side to a's side
    length: float  # mean path length of the two chains (heads only)


def mirror_pairs(tree: BoneTree) -> list[LimbPair]:
    """Every pair of siblings with chains of at least two bones that mirror each other."""
    pairs = []
    for parent in range(len(tree)):
        kids = [k for k in tree.children[parent] if tree.children[k]]
        if len(kids) < 2:
            continue
        chains = {k: principal_chain(tree, k) for k in kids}
        for a, b in combinations(kids, 2):
            sizes = sorted((int(tree.descendant_counts[a]), int(tree.descendant_counts[b])))
            if sizes[1] - sizes[0] > max(3, sizes[1] // 4):  # far from the same shape: not worth reflecting
                continue
            pair = _mirrored(tree, a, b, chains[a], chains[b])
            if pair is not None:
                pairs.append(pair)
    return pairs


def _compared(tree: BoneTree, chain_a: list[int], chain_b: list[int]) -> tuple[np.ndarray, np.ndarray, float]:
    count = min(len(chain_a), len(chain_b), COMPARED_BONES)
    pa, pb = tree.heads[chain_a[:count]], tree.heads[chain_b[:count]]
    return pa, pb, max(path_length(pa), path_length(pb))


def _reflection_error(pa: np.ndarray, pb: np.ndarray, normal: np.ndarray, middle: np.ndarray) -> float:
    """Largest distance between ``pa`` reflected across the plane (``normal``, ``middle``) and ``pb``."""
    reflected = pa - 2.0 * ((pa - middle) @ normal)[:, None] * normal
    return float(np.linalg.norm(reflected - pb, axis=1).max())


def _mirrored(tree: BoneTree, a: int, b: int, chain_a: list[int], chain_b: list[int]) -> LimbPair | None:
    pa, pb, size = _compared(tree, chain_a, chain_b)
    gap = pa.mean(axis=0) - pb.mean(axis=0)
    if size < 1e-9 or np.linalg.norm(gap) < 0.05 * size:
        return None
    normal, middle = unit(gap), (pa.mean(axis=0) + pb.mean(axis=0)) / 2.0
    if _reflection_error(pa, pb, normal, middle) > MIRROR_TOLERANCE * size:
        return None
    length = (path_length(tree.heads[chain_a]) + path_length(tree.heads[chain_b])) / 2.0
    return LimbPair(a, b, chain_a, chain_b, normal, length)


@dataclass
class Body:
    """The legs and arms pairs, the bone they share (pelvis), the arms' parent, and the rig's axes.

    Without ``arms`` (none mirror each other above the legs) it is the legs alone, so that a map that
    fails can still say what it found."""

    legs: LimbPair
    arms: LimbPair | None
    pelvis: int
    chest: int  # the arms' parent (the pelvis where there are no arms)
    up: np.ndarray
    lateral: np.ndarray  # unit, sign not yet meaning left
    floor: float  # lowest bone head along ``up``
    height: float  # floor to the chest's head

    def height_of(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points) @ self.up - self.floor

    def horizontal(self, v: np.ndarray) -> np.ndarray:
        return v - np.outer(np.atleast_2d(v) @ self.up, self.up).reshape(np.shape(v))


def _lowest(tree: BoneTree, chain: list[int]) -> np.ndarray:
    points = chain_points(tree, chain)
    return points[int(np.argmin(points @ _rough_up(tree, chain)))]


def _rough_up(tree: BoneTree, chain: list[int]) -> np.ndarray:
    """A leg's own up: from its far end to its root (good enough to find its lowest point)."""
    return unit(tree.heads[chain[0]] - chain_points(tree, chain)[-1])


def find_body(tree: BoneTree) -> Body | None:
    """The leg and arm pairs that best form a standing humanoid, or None where no pair of pairs does."""
    pairs = sorted(mirror_pairs(tree), key=lambda p: -p.length)  # longest first: stop once nothing can beat the best
    best: tuple[float, Body] | None = None
    for legs in pairs:
        if best is not None and legs.length + pairs[0].length <= best[0]:
            break
        feet = (_lowest(tree, legs.chain_a) + _lowest(tree, legs.chain_b)) / 2.0
        leg_subtrees = set(tree.subtree(legs.a)) | set(tree.subtree(legs.b))
        for arms in pairs:
            if best is not None and legs.length + arms.length <= best[0]:
                break
            body = _as_body(tree, legs, arms, feet, leg_subtrees)
            if body is not None:
                best = (legs.length + arms.length, body)
                break
    return best[1] if best else None


def _as_body(tree: BoneTree, legs: LimbPair, arms: LimbPair, feet: np.ndarray, leg_subtrees: set[int]) -> Body | None:
    hips_parent, chest = int(tree.parents[legs.a]), int(tree.parents[arms.a])
    if arms is legs or chest < 0 or chest in leg_subtrees:
        return None
    pelvis = tree.lca(hips_parent, chest)
    if pelvis < 0 or pelvis == chest or tree.is_ancestor(arms.a, hips_parent) or tree.is_ancestor(arms.b, hips_parent):
        return None
    rise = tree.heads[chest] - feet
    height = float(np.linalg.norm(rise))
    if height < 1e-9:
        return None
    up = rise / height
    hips = (tree.heads[legs.a] + tree.heads[legs.b]) / 2.0
    shoulders = (tree.heads[arms.a] + tree.heads[arms.b]) / 2.0
    drops = [(tree.heads[r] - feet) @ up for r in (legs.a, legs.b)]
    if min(drops) < 0.3 * height or (hips - feet) @ up > 0.85 * height or (shoulders - feet) @ up < 0.5 * height:
        return None
    if (feet - tree.heads[int(np.argmin(tree.heads @ up))]) @ up > 2.0 * min(drops):  # "legs" high above the floor
        return None
    if abs(legs.normal @ arms.normal) < 0.7 or abs(legs.normal @ up) > 0.4:
        return None
    pa, pb, size = _compared(tree, arms.chain_a, arms.chain_b)  # the arms mirror across the legs' plane too
    if _reflection_error(pa, pb, legs.normal, hips) > MIRROR_TOLERANCE * size:
        return None
    lateral = unit(legs.normal + np.sign(legs.normal @ arms.normal) * arms.normal)
    up = unit(up - (up @ lateral) * lateral)
    floor = float((tree.heads @ up).min())
    return Body(legs, arms, pelvis, chest, up, lateral, floor, float(tree.heads[chest] @ up - floor))


def find_legs(tree: BoneTree) -> Body | None:
    """The longest mirror pair that stands on the rig's floor like legs (nothing far below its feet)."""
    for legs in sorted(mirror_pairs(tree), key=lambda p: -p.length):
        feet = (_lowest(tree, legs.chain_a) + _lowest(tree, legs.chain_b)) / 2.0
        rise = (tree.heads[legs.a] + tree.heads[legs.b]) / 2.0 - feet
        drop = float(np.linalg.norm(rise))
        if drop < 1e-9 or abs(legs.normal @ rise) > 0.4 * drop:
            continue
        up = unit(rise - (rise @ legs.normal) * legs.normal)
        floor = float((tree.heads @ up).min())
        if feet @ up - floor > 0.5 * drop:
            continue
        pelvis = int(tree.parents[legs.a])
        if pelvis >= 0:
            return Body(legs, None, pelvis, pelvis, up, legs.normal, floor, 2.0 * (float(tree.heads[pelvis] @ up) - floor))
    return None


def spine_bones(tree: BoneTree, body: Body) -> list[int]:
    """Bones from above the pelvis up to the arms' parent."""
    return tree.path_down(body.pelvis, body.chest) if body.arms else []


def head_chain(tree: BoneTree, body: Body) -> list[int]:
    """Neck to head: from the arms' parent, the central child that rises, repeatedly; a last bone that
    only marks the top of the skull (a leaf longer than the whole neck below it) is left out."""
    if body.arms is None:
        return []
    arms = body.arms
    middle = (tree.heads[arms.a] + tree.heads[arms.b]) / 2.0
    off_centre = 0.08 * body.height
    chain: list[int] = []
    current = body.chest
    while True:
        rising = [k for k in tree.children[current] if k not in (arms.a, arms.b)
                  and abs((tree.heads[k] - middle) @ body.lateral) < off_centre
                  and (tree.heads[k] - tree.heads[current]) @ body.up > (0.0 if current == body.chest else 0.005 * body.height)]
        if not rising:
            break
        current = max(rising, key=lambda k: (tree.descendant_counts[k], float(tree.heads[k] @ body.up)))
        chain.append(current)
    if len(chain) >= 3 and not tree.children[chain[-1]]:
        neck = path_length(tree.heads[chain[:-1]])
        if np.linalg.norm(tree.heads[chain[-1]] - tree.heads[chain[-2]]) > 1.5 * neck:
            chain.pop()
    return chain


def root_bone(tree: BoneTree, body: Body) -> int | None:
    """The pelvis's nearest ancestor that lies on the floor (the bone that carries the root motion)."""
    for b in tree.ancestors(body.pelvis):
        if abs(body.height_of(tree.heads[b])) < 0.05 * body.height:
            return b
    return None
