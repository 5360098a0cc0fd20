"""Motion-derived captions for two-person windows (numpy only).

The CMU salsa pairs carry one label ("salsa dance"), which would teach the text conditioning nothing. This
module measures what happens in a window and says it in words, so prompts about holding hands, spinning,
approaching, travelling, facing or tempo mean something to the model. Every word comes from a measurement
below; nothing is typed per file.

Conventions: positions are model space (Y-up, metres), slot 0 and slot 1 are the two people. A person's
facing is :func:`features.facing_angle`: the horizontal direction ``up × ((r_hip − l_hip) + (r_shoulder −
l_shoulder))`` (the HumanML3D / InterGen rule; +Z for the rest pose), yaw = ``atan2(f_x, f_z)``. A positive
yaw change is a rotation about +Y by the right-hand rule, i.e. **counterclockwise seen from above** and a
turn to the person's **left**; a negative change is clockwise, a turn to the right.

Rules and thresholds (all distances horizontal unless said otherwise):

- Hands: a frame has hands joined when the smallest of the four wrist-to-wrist distances (3-D) is below
  ``HAND_JOIN_M`` = 0.30 m (on the CMU salsa pairs a hand hold puts the wrist joints 0.2-0.3 m apart,
  mode 0.25 m; free hands are spread out to beyond 1 m); both hands when two disjoint wrist pairs are each
  below it. Joined for ≥ 60 % of the frames → "hold hands" (both hands for ≥ 60 % → "hold both hands");
  ≤ 10 % → "hands apart"; otherwise compare the first and last thirds (≥ 60 % vs ≤ 10 %) → "let go" /
  "take hands", else "now and then".
- Distance: pelvis-to-pelvis distance averaged over the first and the last 15 % of the window. A change of
  at least ``DISTANCE_CHANGE_M`` = 0.30 m → approaching / separating; when one person's own displacement
  along the line between them accounts for ≥ 70 % of the change, that person is named as the one who moves.
  Otherwise the mean distance is described: < 0.50 m close, < 1.30 m about an arm's length, else far apart.
- Turns (per person, yaw unwrapped and smoothed over 5 frames): a **spin** is a rotation of ≥ 270° within
  1.5 s (``SPIN_DEG``, ``SPIN_SECONDS``); a double spin is ≥ 630° within 3 s (``DOUBLE_SPIN_DEG``). Without a
  spin, the largest rotation in one direction over the window is a full turn (≥ 270°), a half turn
  ("turns around", ≥ 150°) or a turn (≥ 80°).
- Travel: the displacement of the midpoint between the pelvises, first frame to last, in the frame of slot
  0's facing at the first frame. Shorter than ``TRAVEL_M`` = 0.40 m → in place; otherwise forward / backward /
  to the left / to the right of slot 0, by the 90° sector the displacement falls in.
- Relation per frame (u = unit vector from slot 0 to slot 1, f0/f1 facings, cos 45° = 0.71, cos 60° = 0.5):
  face to face (f0·u > 0.71 and −f1·u > 0.71), back to back (both < −0.71), side by side (f0·f1 > 0.71 and
  |f0·u| < 0.5), one behind the other (f0·f1 > 0.71 and |f0·u| > 0.71; the one facing the other's back is
  behind). A label held in ≥ 50 % of the frames is reported; otherwise, when the first and last thirds have
  different majority labels, the change between them. Frames with the pelvises < 0.15 m apart are ignored.
- Tempo: a step is a rising edge of a foot's contact (ankle or toe of that foot). Steps per second, averaged
  over the two people: < 0.5 barely stepping, < 1.3 slow, < 2.0 moderate, else fast (ordinary walking is
  about 1.8-2 steps/s; the salsa windows have a median of 1.7).

Names: the role phrasing calls slot 0 "the lead" (or "the leader") and slot 1 "the follow" ("the follower");
person 1 of our data is the lead. The neutral phrasing says "one person" for whichever slot is mentioned first
and "the other" for the other. Roles follow the slots, not the dancers: after a person-swap augmentation call
:func:`describe` on the swapped arrays (slot 0 is then called the lead), which also keeps travel directions
right, since they are measured relative to slot 0. Mirror augmentation must swap the words "left"/"right" and
"clockwise"/"counterclockwise" (the only handed words used here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion.canonical import facing_angle
from ..motion.skeleton import JOINT_INDEX
from .captioner_phrases import Fact, compose

HAND_JOIN_M = 0.30
DISTANCE_CHANGE_M = 0.30
SPIN_DEG = 270.0
SPIN_SECONDS = 1.5
DOUBLE_SPIN_DEG = 630.0
TRAVEL_M = 0.40
_WRISTS = (JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"])
_COS45, _COS60 = float(np.cos(np.pi / 4)), 0.5
_RELATIONS = ("face to face", "back to back", "side by side", "behind", "angled")


class CaptionError(ValueError):
    """Input arrays the captioner cannot describe; the message names the array and the problem."""


@dataclass(frozen=True)
class Measures:
    """What was measured in one window (kept so tests and the evaluation can check the numbers)."""

    hands_fraction: float
    both_hands_fraction: float
    hands_thirds: tuple[float, float]
    distance_start: float
    distance_end: float
    distance_mean: float
    closing_share: tuple[float, float]
    spin_deg: tuple[float, float]
    spin_count: tuple[int, int]
    turn_deg: tuple[float, float]
    travel_forward: float
    travel_left: float
    relation: str | None
    relation_change: tuple[str, str] | None
    behind_slot: int | None
    steps_per_second: float


def _check(positions: np.ndarray, contacts: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    pos = np.asarray(positions, dtype=np.float64)
    con = np.asarray(contacts, dtype=bool)
    if pos.ndim != 4 or pos.shape[1:] != (2, 22, 3):
        raise CaptionError(f"positions must be [T, 2, 22, 3] (two people), got {pos.shape}")
    if con.shape != (pos.shape[0], 2, 4):
        raise CaptionError(f"contacts must be [T, 2, 4] to match positions, got {con.shape}")
    if pos.shape[0] < 2:
        raise CaptionError("a window needs at least 2 frames")
    if not np.isfinite(pos).all():
        raise CaptionError("positions contain NaN or infinity")
    if not fps > 0:
        raise CaptionError(f"fps must be positive, got {fps}")
    return pos, con


def facing(positions: np.ndarray) -> np.ndarray:
    """Unit horizontal facing [..., 3] of skeletons [..., 22, 3], from :func:`features.facing_angle`."""
    yaw = facing_angle(np.asarray(positions, dtype=np.float64))
    return np.stack([np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], axis=-1)


def yaw_degrees(positions: np.ndarray) -> np.ndarray:
    """Unwrapped facing yaw [T] in degrees of one person [T, 22, 3]; increases counterclockwise from above."""
    yaw = np.unwrap(facing_angle(np.asarray(positions, dtype=np.float64)))
    if len(yaw) >= 5:
        padded = np.pad(yaw, 2, mode="edge")
        yaw = np.convolve(padded, np.ones(5) / 5.0, mode="valid")
    return np.degrees(yaw)


def _largest_rotation(yaw: np.ndarray, max_lag: int) -> float:
    """Signed largest yaw change between two frames at most ``max_lag`` apart (later minus earlier)."""
    best = 0.0
    for lag in range(1, min(max_lag, len(yaw) - 1) + 1):
        diff = yaw[lag:] - yaw[:-lag]
        k = int(np.argmax(np.abs(diff)))
        if abs(diff[k]) > abs(best):
            best = float(diff[k])
    return best


def _excursion(yaw: np.ndarray) -> float:
    """Signed largest one-way rotation over the whole window (max rise or max fall, whichever is bigger)."""
    rise = float(np.max(yaw - np.minimum.accumulate(yaw)))
    fall = float(np.max(np.maximum.accumulate(yaw) - yaw))
    return rise if rise >= fall else -fall


def _relation_labels(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame relation index into ``_RELATIONS`` and which slot is behind (−1 when nobody is)."""
    f0, f1 = facing(pos[:, 0]), facing(pos[:, 1])
    delta = pos[:, 1, 0] - pos[:, 0, 0]
    delta[:, 1] = 0.0
    dist = np.linalg.norm(delta, axis=-1)
    u = delta / np.maximum(dist, 1e-8)[:, None]
    a, b, same = (f0 * u).sum(-1), (-f1 * u).sum(-1), (f0 * f1).sum(-1)
    labels = np.full(len(pos), 4)
    behind = np.full(len(pos), -1)
    is_behind = (same > _COS45) & (np.abs(a) > _COS45)
    labels[is_behind] = 3
    behind[is_behind & (a > 0)] = 0
    behind[is_behind & (a < 0)] = 1
    labels[(same > _COS45) & (np.abs(a) < _COS60)] = 2
    labels[(a < -_COS45) & (b < -_COS45)] = 1
    labels[(a > _COS45) & (b > _COS45)] = 0
    labels[dist < 0.15] = -1
    return labels, behind


def _majority(labels: np.ndarray, share: float) -> int | None:
    valid = labels[labels >= 0]
    if len(valid) == 0:
        return None
    counts = np.bincount(valid, minlength=len(_RELATIONS))
    top = int(np.argmax(counts))
    return top if counts[top] >= share * len(valid) else None


def measure(positions: np.ndarray, contacts: np.ndarray, fps: float) -> Measures:
    """Measure a window: positions [T, 2, 22, 3] (model space), contacts [T, 2, 4], frames per second."""
    pos, con = _check(positions, contacts, fps)
    t = pos.shape[0]
    third = max(1, t // 3)

    wrists = pos[:, :, list(_WRISTS)]  # [T, 2, 2, 3]
    d = np.linalg.norm(wrists[:, 0, :, None] - wrists[:, 1, None, :], axis=-1)  # [T, 2 (slot0 wrist), 2]
    near = d < HAND_JOIN_M
    joined = near.any(axis=(1, 2))
    both = (near[:, 0, 0] & near[:, 1, 1]) | (near[:, 0, 1] & near[:, 1, 0])

    root = pos[:, :, 0].copy()
    root[..., 1] = 0.0
    dist = np.linalg.norm(root[:, 1] - root[:, 0], axis=-1)
    edge = max(1, int(round(0.15 * t)))
    d_start, d_end = float(dist[:edge].mean()), float(dist[-edge:].mean())
    line = root[0, 1] - root[0, 0]
    line /= max(float(np.linalg.norm(line)), 1e-8)
    # Movement of each person along the initial line, counted positive when it closes the gap.
    own = (float((root[-1, 0] - root[0, 0]) @ line), float(-(root[-1, 1] - root[0, 1]) @ line))
    total = own[0] + own[1]
    share = (own[0] / total, own[1] / total) if abs(total) > 1e-6 else (0.5, 0.5)

    lag = max(1, int(round(SPIN_SECONDS * fps)))
    spins, counts, turns = [], [], []
    for p in range(2):
        yaw = yaw_degrees(pos[:, p])
        spin = _largest_rotation(yaw, lag)
        spins.append(spin)
        double = abs(_largest_rotation(yaw, 2 * lag)) >= DOUBLE_SPIN_DEG
        counts.append((2 if double else 1) if abs(spin) >= SPIN_DEG else 0)
        turns.append(_excursion(yaw))

    f0 = facing(pos[0, 0])
    left = np.cross(np.array([0.0, 1.0, 0.0]), f0)  # up × forward = the person's left
    mid = root.mean(axis=1)
    move = mid[-1] - mid[0]

    labels, behind = _relation_labels(pos)
    relation = _majority(labels, 0.5)
    change = None
    if relation is None:
        first, last = _majority(labels[:third], 0.5), _majority(labels[-third:], 0.5)
        if first is not None and last is not None and first != last:
            change = (_RELATIONS[first], _RELATIONS[last])
    behind_slot = None
    if relation == 3:
        votes = behind[(labels == 3) & (behind >= 0)]
        behind_slot = int(np.bincount(votes, minlength=2).argmax())

    foot = np.stack([con[:, :, 0] | con[:, :, 1], con[:, :, 2] | con[:, :, 3]], axis=-1)  # [T, 2, 2]
    onsets = (foot[1:] & ~foot[:-1]).sum()
    steps = float(onsets) / 2.0 / ((t - 1) / fps)

    return Measures(
        hands_fraction=float(joined.mean()),
        both_hands_fraction=float(both.mean()),
        hands_thirds=(float(joined[:third].mean()), float(joined[-third:].mean())),
        distance_start=d_start,
        distance_end=d_end,
        distance_mean=float(dist.mean()),
        closing_share=(float(share[0]), float(share[1])),
        spin_deg=(spins[0], spins[1]),
        spin_count=(counts[0], counts[1]),
        turn_deg=(turns[0], turns[1]),
        travel_forward=float(move @ f0),
        travel_left=float(move @ left),
        relation=None if relation is None else _RELATIONS[relation],
        relation_change=change,
        behind_slot=behind_slot,
        steps_per_second=steps,
    )


def facts(m: Measures) -> list[Fact]:
    """Turn measurements into facts, most salient first (spins, turns, hands, relation, distance, travel, tempo)."""
    out: list[Fact] = []
    for p in range(2):
        direction = "left" if (m.spin_deg[p] if m.spin_count[p] else m.turn_deg[p]) > 0 else "right"
        if m.spin_count[p]:
            out.append(Fact("spin2" if m.spin_count[p] >= 2 else "spin", p, direction))
        elif abs(m.turn_deg[p]) >= 270:
            out.append(Fact("full_turn", p, direction))
        elif abs(m.turn_deg[p]) >= 150:
            out.append(Fact("half_turn", p, direction))
        elif abs(m.turn_deg[p]) >= 80:
            out.append(Fact("turn", p, direction))

    first, last = m.hands_thirds
    if m.both_hands_fraction >= 0.6:
        out.append(Fact("both_hands"))
    elif m.hands_fraction >= 0.6:
        out.append(Fact("hands"))
    elif m.hands_fraction <= 0.1:
        out.append(Fact("no_hands"))
    elif first >= 0.6 and last <= 0.1:
        out.append(Fact("let_go"))
    elif first <= 0.1 and last >= 0.6:
        out.append(Fact("take_hands"))
    else:
        out.append(Fact("hands_sometimes"))

    if m.relation == "behind" and m.behind_slot is not None:
        out.append(Fact("behind", m.behind_slot))
    elif m.relation is not None and m.relation != "angled":
        out.append(Fact(m.relation.replace(" ", "_")))
    elif m.relation_change is not None:
        out.append(Fact("relation_change", None, f"{m.relation_change[0]}|{m.relation_change[1]}"))

    change = m.distance_end - m.distance_start
    if abs(change) >= DISTANCE_CHANGE_M:
        kind = "approach" if change < 0 else "separate"
        mover = next((p for p in range(2) if m.closing_share[p] >= 0.7), None)
        out.append(Fact(kind if mover is None else kind + "_one", mover))
    elif m.distance_mean < 0.5:
        out.append(Fact("close"))
    elif m.distance_mean < 1.3:
        out.append(Fact("arm_length"))
    else:
        out.append(Fact("far"))

    if np.hypot(m.travel_forward, m.travel_left) < TRAVEL_M:
        out.append(Fact("in_place"))
    elif abs(m.travel_forward) >= abs(m.travel_left):
        out.append(Fact("travel_forward" if m.travel_forward > 0 else "travel_backward", 0))
    else:
        out.append(Fact("travel_side", 0, "left" if m.travel_left > 0 else "right"))

    rate = m.steps_per_second
    out.append(Fact("still" if rate < 0.5 else "slow" if rate < 1.3 else "moderate" if rate < 2.0 else "fast"))
    return out


def describe(positions: np.ndarray, contacts: np.ndarray, fps: float, rng: np.random.Generator,
             n: int = 3) -> list[str]:
    """``n`` different phrasings of what measurably happens in a two-person window (see module docstring)."""
    if n < 1:
        raise CaptionError(f"n must be at least 1, got {n}")
    return compose(facts(measure(positions, contacts, fps)), rng, n)
