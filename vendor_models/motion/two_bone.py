"""Two-bone reach for a limb (thigh + shin, upper arm + forearm), every frame at once (numpy only).

The solver keeps the clip's limb directions and reaches for a target only where contact matters (a planted
foot, a hand on the partner). A rig whose limbs are not the clip's proportions could reach many targets
only by folding: a cartoon forearm twice the upper arm's length must bend hard to bring a hand near the
shoulder. So a reach fades back to the clip's own directions where the middle joint would bend much more
than the clip's does, and, for arms, where the target lies beyond the outstretched limb.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: How much more (rad) a reach may bend the knee/elbow than the clip does before it starts to fade, and
#: over how much more it fades out completely.
FOLD_SLACK = np.radians(30.0)
FOLD_FADE = np.radians(30.0)
#: Beyond full stretch an arm's reach fades out over this fraction of the limb's length.
STRETCH_FADE = 0.1


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.sqrt(np.einsum("...i,...i->...", v, v)), 1e-12)[..., None]


def bend(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (rad) between consecutive segment directions a and b [T,3]: 0 for a straight limb."""
    return np.arccos(np.clip(np.einsum("...i,...i->...", unit(a), unit(b)), -1.0, 1.0))


@dataclass
class Reach:
    """What one limb reaches for: ``target`` [T,3] with ``weight`` [T] (0 = follow the clip's directions), or
    a target ``hold`` makes of where the limb's end goes when it follows the clip's directions [T,3]."""

    target: np.ndarray | None
    weight: np.ndarray
    fade_when_stretched: bool = True  # arms give up beyond their reach; a planted leg stretches towards it
    never_fold: bool = True  # give up where reaching would fold the limb (off for a rigid fit of the clip itself)
    hold: Callable[[np.ndarray], np.ndarray] | None = None


def reach(base: np.ndarray, upper: np.ndarray, lower: np.ndarray, lengths: tuple[float, float], goal: Reach,
          natural: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the middle joint goes and the point the lower segment aims at [T,3] each.

    ``base`` is the upper joint, ``upper``/``lower`` the clip's unit directions of the two segments (what
    the limb does where it does not reach), ``natural`` [T,3] the way the middle joint bends where the
    clip's limb is straight (knees forward, elbows back). The bend plane is the clip's.
    """
    l1, l2 = lengths
    free_mid = base + l1 * upper
    free_end = free_mid + l2 * lower
    target = goal.hold(free_end) if goal.hold is not None else goal.target
    assert target is not None, "a Reach needs a target or a hold"
    to_target = target - base
    dist = np.sqrt(np.einsum("...i,...i->...", to_target, to_target))
    reachable = np.clip(dist, abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6)
    e = to_target / np.maximum(dist, 1e-12)[:, None]
    side = l1 * upper + 1e-3 * natural
    side = unit(side - np.sum(side * e, axis=-1, keepdims=True) * e)
    cos_a = np.clip((l1 * l1 + reachable * reachable - l2 * l2) / (2 * l1 * reachable), -1.0, 1.0)[:, None]
    mid = base + e * (l1 * cos_a) + side * (l1 * np.sqrt(1.0 - cos_a * cos_a))
    weight = np.asarray(goal.weight, dtype=np.float64)
    if goal.never_fold:
        extra = bend(mid - base, base + e * reachable[:, None] - mid) - bend(upper, lower)
        weight = weight * np.clip(1.0 - (extra - FOLD_SLACK) / FOLD_FADE, 0.0, 1.0)
    if goal.fade_when_stretched:
        weight = weight * np.clip(1.0 - (dist / (l1 + l2) - 1.0) / STRETCH_FADE, 0.0, 1.0)
    w = weight[:, None]
    return free_mid + w * (mid - free_mid), free_end + w * (target - free_end)
