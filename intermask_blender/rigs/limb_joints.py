"""Which bones of one leg or arm chain play hip/knee/ankle/toe or collar/shoulder/elbow/wrist.

Chains come from :mod:`body_frame` without sides. Rest geometry decides, relative to the body: the hip
is where the chain turns down, the ankle the first joint near the floor, the knee the joint nearest the
middle of the leg (twist bones inside a segment, like Daz's ``lThighTwist``, split it unevenly), the toe
joint the nearest bone ahead of the ankle down on the floor. A hand is the bone whose children are
fingers; an arm without one ends at the forearm's tail; the wrist that fits best balances upper arm and
forearm.
An end bone that is not in its chain (IK-style feet and hands under the root or a control) is found
near where the chain ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .body_frame import Body, chain_points, principal_chain, unit
from .bone_tree import BoneTree

#: A leg's ankle is the first joint below this fraction of the hip's height above the floor.
ANKLE_HEIGHT = 0.25


@dataclass
class Limb:
    """One limb's joints, side-free: bone per part (``hip``/``knee``/... or ``collar``/``shoulder``/...),
    the end's position and how the end is attached."""

    bones: dict[str, int]
    detached: bool = False  # the end bone hangs outside the chain
    tail_bone: int | None = None  # a chain without an end bone: the bone whose tail is the end joint
    end_point: np.ndarray = field(default_factory=lambda: np.zeros(3))
    problems: list[str] = field(default_factory=list)


def _middle_joint(points: np.ndarray, start: int, stop: int) -> int:
    """Index between ``start`` and ``stop`` nearest the middle of the path along ``points``."""
    steps = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points[start:stop + 1], axis=0), axis=1))])
    middle = steps[-1] / 2.0
    inner = range(start + 1, stop)
    return min(inner, key=lambda i: abs(steps[i - start] - middle))


def _detached_end(tree: BoneTree, body: Body, chain: list[int], taken: set[int], near: np.ndarray, reach: float,
                  low: float | None) -> int | None:
    """A bone outside every chain that plays this chain's end: an IK target of the chain first, else the
    closest bone on the chain's side within ``reach`` of ``near`` (and below height ``low`` for feet)."""
    side = np.sign((tree.heads[chain[0]] - tree.heads[body.pelvis]) @ body.lateral)
    width = abs((tree.heads[chain[0]] - tree.heads[body.pelvis]) @ body.lateral)

    def fits(b: int) -> bool:
        offset = (tree.heads[b] - tree.heads[body.pelvis]) @ body.lateral
        return bool(b not in taken and np.sign(offset) == side and abs(offset) > 0.3 * width
                    and (low is None or float(body.height_of(tree.heads[b])) < low))

    def distance(b: int) -> float:  # a foot: along the floor from the knee above it
        gap = tree.heads[b] - near
        return float(np.linalg.norm(body.horizontal(gap) if low is not None else gap))

    aimed = [tree.index[t] for b in chain for t in tree.ik_targets.get(tree.names[b], ())]
    for group in (aimed, range(len(tree))):
        close = [b for b in group if fits(b) and distance(b) < reach]
        if close:
            return min(close, key=distance)
    return None


def _toe(tree: BoneTree, body: Body, ankle_bone: int, ankle: np.ndarray) -> int | None:
    """The ball of the foot among the ankle bone's descendants: of the bones that start ahead of the ankle
    (towards the farthest one, not back at the heel) and down on the floor (not up on the instep, like
    Daz's ``lMetatarsals``), the nearest to the ankle (so not Mixamo's ``Toe_End`` at the tip). Heads
    only: imported leaf bones have made-up tails."""
    below = [b for b in tree.subtree(ankle_bone) if b != ankle_bone]
    if not below:
        return None
    offsets = body.horizontal(tree.heads[below] - ankle)
    spans = np.linalg.norm(offsets, axis=1)
    ahead = offsets @ unit(offsets[int(np.argmax(spans))]) > 0.3 * spans.max()
    low = body.height_of(tree.heads[below]) < 0.4 * float(body.height_of(ankle))
    pick = ahead & low if (ahead & low).any() else ahead
    return below[int(np.argmin(np.where(pick, spans, np.inf)))] if pick.any() else None


def leg(tree: BoneTree, body: Body, chain: list[int], taken: set[int]) -> Limb:
    """Hip, knee, ankle and toe of a leg chain (an IK-style foot outside the chain is found by position)."""
    points = chain_points(tree, chain)
    down = -body.up
    hip = next((i for i in range(len(chain)) if unit(points[i + 1] - points[i]) @ down > 0.5), None)
    if hip is None:
        return Limb({}, problems=[f"leg from '{tree.names[chain[0]]}' never goes down"])
    heights = body.height_of(points)
    top = heights[hip]
    ankle = next((i for i in range(hip + 2, len(chain)) if heights[i] < ANKLE_HEIGHT * top), None)
    limb = Limb({"hip": chain[hip]})
    if ankle is None:
        foot = _detached_end(tree, body, chain[hip:], taken, points[len(chain) - 1], 0.6 * top, ANKLE_HEIGHT * top)
        if foot is None or len(chain) - hip < 2:
            limb.problems.append(f"leg from '{tree.names[chain[hip]]}' has no ankle bone near the floor")
            return limb
        path = np.concatenate([points[hip:len(chain)], tree.heads[foot][None]])
        knee = hip + _middle_joint(path, 0, len(path) - 1)
        limb.bones.update(knee=chain[knee], ankle=foot)
        limb.detached, limb.end_point = True, tree.heads[foot]
        toe = _toe(tree, body, foot, tree.heads[foot])
    else:
        knee = _middle_joint(points, hip, ankle)
        limb.bones.update(knee=chain[knee], ankle=chain[ankle])
        limb.end_point = points[ankle]
        toe = _toe(tree, body, chain[ankle], points[ankle])
    if toe is not None:
        limb.bones["foot"] = toe
    return limb


def _hand(tree: BoneTree, chain: list[int]) -> tuple[int, int] | None:
    """(index in chain of the hand bone, hand bone) where the chain first branches into fingers.

    Fingers: at least three children that have children of their own. When the fingers all start far
    from the branching bone's head, the branching bone is the forearm and the wrist is where they start
    (RobotExpressive's palms): the hand is the child that best continues the forearm.
    """
    for k in range(1, len(chain)):
        b = chain[k]
        fingers = [c for c in tree.children[b] if tree.children[c]]
        if len(fingers) < 3:
            continue
        starts = tree.heads[fingers]
        spread = float(np.linalg.norm(starts - starts.mean(axis=0), axis=1).max())
        if spread < 0.3 * float(np.linalg.norm(starts.mean(axis=0) - tree.heads[b])):
            forearm = unit(starts.mean(axis=0) - tree.heads[b])
            along = [float(unit(chain_points(tree, principal_chain(tree, c))[-1] - tree.heads[c]) @ forearm) for c in fingers]
            return k + 1, fingers[int(np.argmax(along))]
        return k, b
    return None


def _has_collar(tree: BoneTree, body: Body, chain: list[int]) -> bool:
    """A first arm bone that starts close to the midline compared with the hips is a collar bone."""
    if len(chain) < 3 or body.arms is None:
        return False
    hips = abs((tree.heads[body.legs.a] - tree.heads[body.legs.b]) @ body.lateral) / 2.0
    middle = (tree.heads[body.arms.a] + tree.heads[body.arms.b]) / 2.0
    offset = abs((tree.heads[chain[0]] - middle) @ body.lateral)
    first, second = (np.linalg.norm(tree.heads[chain[i + 1]] - tree.heads[chain[i]]) for i in (0, 1))
    return bool(offset < 1.6 * hips) and bool(first < 1.5 * second)


def arm(tree: BoneTree, body: Body, chain: list[int], taken: set[int]) -> Limb:
    """Collar, shoulder, elbow and wrist of an arm chain (the wrist may be the forearm's tail)."""
    hand = _hand(tree, chain)
    if hand is not None:
        chain = chain[:hand[0]] + [hand[1]]
    start = 1 if _has_collar(tree, body, chain) and (hand is None or hand[0] >= 3) else 0
    points = chain_points(tree, chain)
    last = np.linalg.norm(points[-1] - points[-2])
    real_tail = len(chain) < 2 or last >= 0.5 * np.linalg.norm(points[-2] - points[-3])  # not an importer's stub
    if hand is not None:
        ends = [hand[0]]
    else:
        ends = list(range(start + 2, len(chain) + (1 if real_tail else 0)))  # len(chain): the last bone's tail
    ends = [e for e in ends if e - start >= 2]
    if not ends:
        return Limb({}, problems=[f"arm from '{tree.names[chain[0]]}' is too short for a shoulder, elbow and wrist"])

    def split(end: int) -> tuple[float, float]:
        """(balance of upper arm and forearm, their length) with the wrist at ``end``."""
        elbow = _middle_joint(points, start, end)
        upper = float(np.linalg.norm(np.diff(points[start:elbow + 1], axis=0), axis=1).sum())
        fore = float(np.linalg.norm(np.diff(points[elbow:end + 1], axis=0), axis=1).sum())
        return min(upper, fore) / max(upper, fore, 1e-12), upper + fore

    # Upper arm and forearm are about as long; in-chain twist bones halve them, so of the balanced
    # choices the longest arm wins (Daz's lForearmBend halves the whole arm as evenly as lHand does).
    balanced = [e for e in ends if split(e)[0] >= 0.85]
    end = max(balanced, key=lambda e: split(e)[1]) if balanced else max(ends, key=lambda e: split(e)[0])
    elbow = _middle_joint(points, start, end)
    limb = Limb({"shoulder": chain[start], "elbow": chain[elbow]})
    if start == 1:
        limb.bones["collar"] = chain[0]
    limb.end_point = points[end]
    if end < len(chain):
        limb.bones["wrist"] = chain[end]
        return limb
    forearm = float(np.linalg.norm(points[end] - points[elbow]))
    detached = _detached_end(tree, body, chain, taken, points[end], 0.25 * forearm, None)
    if detached is not None:
        limb.bones["wrist"], limb.detached, limb.end_point = detached, True, tree.heads[detached]
    else:
        limb.tail_bone = chain[-1]
    return limb
