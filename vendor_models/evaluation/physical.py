"""Physical plausibility of clips, the checks an animator cares about (numpy only, works on :class:`Clip`).

Every metric is pooled over all frames of all clips given, so a set of generated clips and the real test
clips are measured the same way and the real ones give each number its reference:

- ``skate_contact`` (m/s): mean horizontal speed of a contact joint over the frames where the clip's own
  contact flag says it is planted (what retargeting pins); ``skate_ground`` (m/s): the same over frames where
  the joint is near the ground (below :data:`features.CONTACT_HEIGHTS`: ankle 12 cm, toe 5 cm), whatever
  the flags say.
- ``ground_penetration`` (cm): mean depth of the lowest joint below y = 0, per person-frame;
  ``ground_penetration_frames``: share of person-frames whose lowest joint is more than 2 cm below.
- ``interpenetration`` (cm): per frame, the deepest overlap between the two people's body capsules (one
  capsule per bone, slim radii in :data:`CAPSULE_RADII` so touching hands or a close hold are not
  counted); ``interpenetration_frames``: share of frames with more than 2 cm overlap.
- ``jitter`` (m/s²): mean joint acceleration magnitude ‖p[t+1] − 2p[t] + p[t−1]‖·fps².
- ``bone_drift`` (mm): standard deviation over time of each bone's length, averaged over bones and people
  (0 for a rigid skeleton; positions-based generators can stretch bones).
- ``partner_distance_mean`` / ``_p5`` / ``_p95`` (m): horizontal pelvis-to-pelvis distance per frame.
"""

from __future__ import annotations

import numpy as np

from ..motion.clip_file import Clip
from ..motion.contacts import CONTACT_HEIGHTS
from ..motion.skeleton import CONTACT_JOINTS, PARENTS, bone_lengths

#: Capsule radius (m) of the bone ending at joint j (index j-1): hips, spine, legs, feet, neck, collars,
#: head, upper arms, forearms. Deliberately slimmer than a body, so only clear overlaps count.
CAPSULE_RADII = np.array([0.09, 0.09, 0.11, 0.07, 0.07, 0.11, 0.05, 0.05, 0.12, 0.04, 0.04, 0.05, 0.05, 0.05,
                          0.09, 0.045, 0.045, 0.04, 0.04, 0.035, 0.035])
_PENETRATION_CM = 2.0


def segment_distances(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Closest distance between segments p0-p1 and q0-q1 (broadcast over leading dims, last dim 3)."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a = (d1 * d1).sum(-1)
    e = (d2 * d2).sum(-1)
    f = (d2 * r).sum(-1)
    c = (d1 * r).sum(-1)
    b = (d1 * d2).sum(-1)
    denom = a * e - b * b
    safe_a, safe_e = np.maximum(a, 1e-12), np.maximum(e, 1e-12)
    # s on the first segment from the unconstrained solution (parallel → 0), then t, then re-clamp s.
    s = np.where(denom > 1e-12, np.clip((b * f - c * e) / np.maximum(denom, 1e-12), 0.0, 1.0), 0.0)
    t = (b * s + f) / safe_e
    t_clamped = np.clip(t, 0.0, 1.0)
    s = np.where(t != t_clamped, np.clip((b * t_clamped - c) / safe_a, 0.0, 1.0), s)
    closest = (p0 + d1 * s[..., None]) - (q0 + d2 * t_clamped[..., None])
    return np.linalg.norm(closest, axis=-1)


def _interpenetration(positions: np.ndarray) -> np.ndarray:
    """Deepest capsule overlap (m) per frame of a two-person [T, 2, 22, 3] clip."""
    child = np.arange(1, 22)
    parent = np.array(PARENTS[1:])
    a0, a1 = positions[:, 0, parent], positions[:, 0, child]  # [T, 21, 3]
    b0, b1 = positions[:, 1, parent], positions[:, 1, child]
    dist = segment_distances(a0[:, :, None], a1[:, :, None], b0[:, None], b1[:, None])  # [T, 21, 21]
    overlap = CAPSULE_RADII[:, None] + CAPSULE_RADII[None, :] - dist
    return np.maximum(overlap.max(axis=(1, 2)), 0.0)


def _per_clip(clip: Clip) -> dict[str, np.ndarray]:
    pos = clip.positions.astype(np.float64)
    fps = float(clip.fps)
    feet = pos[:, :, list(CONTACT_JOINTS)]  # [T, P, 4, 3]
    speed = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * fps  # horizontal, [T-1, P, 4]
    planted = clip.contacts[:-1]
    near = feet[:-1, ..., 1] < CONTACT_HEIGHTS
    lowest = pos[..., 1].min(axis=-1)  # [T, P]
    acc = np.linalg.norm(pos[2:] - 2 * pos[1:-1] + pos[:-2], axis=-1) * fps * fps if len(pos) > 2 else np.zeros(0)
    out = {
        "skate_contact": speed[planted],
        "skate_ground": speed[near],
        "ground_depth": np.maximum(-lowest, 0.0).ravel(),
        "jitter": np.ravel(acc),
        "bone_drift": bone_lengths(pos).std(axis=0).ravel(),
    }
    if clip.num_people == 2:
        root = pos[:, :, 0, [0, 2]]
        out["partner_distance"] = np.linalg.norm(root[:, 1] - root[:, 0], axis=-1)
        out["overlap"] = _interpenetration(pos)
    return out


def partner_distances(clips: list[Clip]) -> np.ndarray:
    """All per-frame horizontal pelvis distances (m) of the two-person clips, pooled."""
    values = [_per_clip(c)["partner_distance"] for c in clips if c.num_people == 2]
    return np.concatenate(values) if values else np.zeros(0)


def physical_metrics(clips: list[Clip]) -> dict[str, float]:
    """The metrics in the module docstring, pooled over ``clips`` (NaN where nothing was measurable)."""
    if not clips:
        raise ValueError("physical_metrics needs at least one clip")
    parts = [_per_clip(c) for c in clips]

    def pooled(key: str) -> np.ndarray:
        arrays = [p[key] for p in parts if key in p]
        return np.concatenate(arrays) if arrays else np.zeros(0)

    def mean(values: np.ndarray, scale: float = 1.0) -> float:
        return float(values.mean() * scale) if values.size else float("nan")

    depth, overlap, dist = pooled("ground_depth"), pooled("overlap"), pooled("partner_distance")
    return {
        "skate_contact": mean(pooled("skate_contact")),
        "skate_ground": mean(pooled("skate_ground")),
        "ground_penetration": mean(depth, 100.0),
        "ground_penetration_frames": mean(depth * 100.0 > _PENETRATION_CM),
        "interpenetration": mean(overlap, 100.0),
        "interpenetration_frames": mean(overlap * 100.0 > _PENETRATION_CM),
        "jitter": mean(pooled("jitter")),
        "bone_drift": mean(pooled("bone_drift"), 1000.0),
        "partner_distance_mean": mean(dist),
        "partner_distance_p5": float(np.quantile(dist, 0.05)) if dist.size else float("nan"),
        "partner_distance_p95": float(np.quantile(dist, 0.95)) if dist.size else float("nan"),
    }
