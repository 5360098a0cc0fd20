"""Foot contacts from joint positions (InterGen's rule) and the foot pin that holds them, the one definition
both halves use; and where a hand touches the partner, which the retarget keeps (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .skeleton import CONTACT_JOINTS, NUM_JOINTS, PARENTS

#: InterGen's foot-contact thresholds: squared per-frame displacement (m²) and height (m) per contact joint.
CONTACT_SPEED_SQ = 0.001
CONTACT_HEIGHTS = np.array([0.12, 0.05, 0.12, 0.05])
#: How long (s) a held foot takes to ease into and out of its hold.
EASE_SECONDS = 0.1
#: A planted joint that moves less than this (m) over its contact already stands still.
STILL_TOLERANCE = 1e-4


def detect_contacts(positions: np.ndarray) -> np.ndarray:
    """Foot contacts [..., T, 4] from Y-up metre positions [..., T, 22, 3].

    A contact joint touches the ground when it moved less than sqrt(0.001) m to the next frame and is
    lower than 0.12 m (ankle) / 0.05 m (toe). The last frame has no next frame and reuses the one before.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"positions must end in shape ({NUM_JOINTS}, 3), got {positions.shape}")
    feet = positions[..., list(CONTACT_JOINTS), :]
    if feet.shape[-3] < 2:
        return feet[..., 1] < CONTACT_HEIGHTS
    speed_sq = np.sum(np.diff(feet, axis=-3) ** 2, axis=-1)
    speed_sq = np.concatenate([speed_sq, speed_sq[..., -1:, :]], axis=-2)
    return (speed_sq < CONTACT_SPEED_SQ) & (feet[..., 1] < CONTACT_HEIGHTS)


def contact_spans(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) frame ranges, end exclusive, where the bool flags [T] are set."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(flags).astype(int), [0]])))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def ease_window(count: int, start: int, end: int, fps: float) -> tuple[slice, np.ndarray]:
    """Where a hold over frames start..end-1 acts, and its weights there [W, 1]: 1 inside, falling
    linearly to 0 over :data:`EASE_SECONDS` on either side, so a held joint eases in and out of it."""
    ramp = max(1, int(round(EASE_SECONDS * fps)))
    frames = np.arange(max(0, start - ramp), min(count, end + ramp))
    outside = np.maximum(np.maximum(start - frames, frames - (end - 1)), 0)
    window = slice(int(frames[0]), int(frames[-1]) + 1)
    return window, np.clip(1.0 - outside / (ramp + 1.0), 0.0, 1.0)[:, None]


def hold_still(track: np.ndarray, flags: np.ndarray, fps: float) -> np.ndarray:
    """A joint's positions [T,3] held at their mean over each run of set ``flags`` [T], easing in and out
    (:func:`ease_window`); a run where the joint already stands still (to :data:`STILL_TOLERANCE`, e.g. a
    rigidly fitted clip whose feet the fit held) is left as it is, so holding twice changes nothing."""
    out = track.copy()
    for start, end in contact_spans(flags):
        held = track[start:end].mean(axis=0)
        if np.abs(track[start:end] - held).max() <= STILL_TOLERANCE:
            continue
        window, weight = ease_window(len(track), start, end, fps)
        out[window] += weight * (held - out[window])
    return out


def pin_feet(goals: np.ndarray, contacts: np.ndarray, fps: float) -> np.ndarray:
    """Hold each planted ankle/toe of goals [T,22,3] at its mean position over the contact
    (:func:`hold_still`), the foot pin of the retarget."""
    out = goals.copy()
    for channel, joint in enumerate(CONTACT_JOINTS):
        out[:, joint] = hold_still(goals[:, joint], contacts[:, channel], fps)
    return out


def contact_weights(flags: np.ndarray, fps: float) -> np.ndarray:
    """Weights [T] of a hold over each run of set ``flags`` [T]: 1 inside, easing in and out around it
    (:func:`ease_window`), the largest where two runs' ramps meet."""
    weights = np.zeros(len(flags))
    for start, end in contact_spans(flags):
        window, weight = ease_window(len(flags), start, end, fps)
        weights[window] = np.maximum(weights[window], weight[:, 0])
    return weights


#: A wrist this close (m) to a bone of the partner's clip skeleton touches the partner: a hand in a hand is
#: about 10 cm from the other wrist, a hand on a shoulder or back about as far from the bone under it.
HAND_REACH = 0.12
_BONES = np.array([(p, j) for j, p in enumerate(PARENTS) if p >= 0])


@dataclass
class HandContact:
    """Where one wrist [T] touches the partner: the partner's bone (parent, child joints), how far along it,
    and the wrist's offset from that point, in the clip's space (model axes, metres)."""

    touching: np.ndarray  # [T] bool
    bone: np.ndarray  # [T, 2] joint indices of the partner's bone nearest to the wrist
    along: np.ndarray  # [T] 0..1 from the bone's parent joint to its child joint
    offset: np.ndarray  # [T, 3] wrist minus that point

    def target(self, partner: np.ndarray) -> np.ndarray:
        """Where the wrist goes [T,3] on the partner's joints [T,22,3] as posed (in any frame the offset,
        already scaled and turned into it, is added to)."""
        frames = np.arange(len(self.along))
        a, b = partner[frames, self.bone[:, 0]], partner[frames, self.bone[:, 1]]
        return a + self.along[:, None] * (b - a)


def hand_contacts(own: np.ndarray, partner: np.ndarray, wrists: tuple[int, ...]) -> list[HandContact]:
    """For each wrist joint of ``own`` [T,22,3], where it touches the partner's skeleton [T,22,3]."""
    a, b = partner[:, _BONES[:, 0]], partner[:, _BONES[:, 1]]  # [T, S, 3]
    span = b - a
    length_sq = np.maximum(np.einsum("tsi,tsi->ts", span, span), 1e-12)
    out = []
    for wrist in wrists:
        point = own[:, wrist][:, None]
        along = np.clip(np.einsum("tsi,tsi->ts", point - a, span) / length_sq, 0.0, 1.0)
        nearest = a + along[..., None] * span
        dist = np.linalg.norm(point - nearest, axis=-1)
        best = np.argmin(dist, axis=1)
        frames = np.arange(len(best))
        out.append(HandContact(dist[frames, best] < HAND_REACH, _BONES[best], along[frames, best],
                               own[:, wrist] - nearest[frames, best]))
    return out
