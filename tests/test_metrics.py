"""Metric math on constructed inputs with known answers, and physical metrics on constructed motions."""

from __future__ import annotations

import numpy as np
import pytest

from vendor_models.evaluation import metrics
from vendor_models.evaluation.physical import CAPSULE_RADII, physical_metrics, segment_distances
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.skeleton import PARENTS, REST_DIRECTIONS

RNG = np.random.default_rng


def test_fid_of_identical_sets_is_zero_and_of_shifted_sets_is_the_squared_shift():
    x = RNG(0).normal(size=(500, 8))
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-6)
    shift = np.zeros(8)
    shift[0] = 0.5
    # same covariance, mean moved by 0.5 → (6·0.5)² = 9 with InterGen's embedding scale 6
    assert metrics.fid(x, x + shift) == pytest.approx(9.0, rel=1e-6)


def test_frechet_matches_the_closed_form_for_diagonal_gaussians():
    c1, c2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    expected = 0 + (1 + 4) + (9 + 1) - 2 * (np.sqrt(9) + np.sqrt(4))
    assert metrics.frechet(np.zeros(2), c1, np.zeros(2), c2) == pytest.approx(expected)


def test_r_precision_of_a_perfect_evaluator_is_one_and_of_a_reversed_one_is_zero():
    emb = RNG(1).normal(size=(64, 16))
    assert np.allclose(metrics.r_precision(emb, emb, RNG(0), batch_size=16), 1.0)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    # each text's own motion is its antipode, the farthest point of the unit sphere
    assert metrics.r_precision(unit, -unit, RNG(0), batch_size=16)[2] == 0.0


def test_r_precision_of_random_embeddings_is_near_chance():
    rng = RNG(2)
    scores = np.mean([metrics.r_precision(rng.normal(size=(320, 8)), rng.normal(size=(320, 8)), rng, 16)
                      for _ in range(20)], axis=0)
    assert scores == pytest.approx([1 / 16, 2 / 16, 3 / 16], abs=0.02)


def test_r_precision_drops_the_last_incomplete_batch_and_handles_small_sets():
    emb = RNG(3).normal(size=(20, 4))
    assert np.allclose(metrics.r_precision(emb, emb, RNG(0), batch_size=16), 1.0)  # 16 scored, 4 dropped
    assert np.allclose(metrics.r_precision(emb[:5], emb[:5], RNG(0), batch_size=16), 1.0)  # one batch of 5


def test_mm_dist_diversity_and_multimodality_on_known_geometry():
    text = np.zeros((4, 3))
    motion = np.array([[3.0, 4, 0]] * 4)
    assert metrics.mm_dist(text, motion) == pytest.approx(5.0)
    two_points = np.array([[0.0, 0], [1.0, 0]])  # every pair is the two points → 6·1/2 = 3
    assert metrics.diversity(two_points, RNG(0)) == pytest.approx(3.0)
    same = np.tile(np.array([[[1.0, 2.0]]]), (5, 4, 1))
    assert metrics.multimodality(same, RNG(0)) == 0.0
    spread = np.zeros((3, 2, 2))
    spread[:, 1, 0] = 2.0
    assert metrics.multimodality(spread, RNG(0)) == pytest.approx(2.0)


def test_summarize_gives_intergen_interval():
    interval = metrics.summarize([1.0, 2.0, 3.0, 4.0])
    assert interval.mean == 2.5
    assert interval.ci95 == pytest.approx(1.96 * np.std([1, 2, 3, 4]) / 2)
    assert str(metrics.summarize([0.5])) == "0.500"


def test_wasserstein_1d_of_shifted_samples_is_the_shift():
    a = RNG(4).normal(size=2000)
    assert metrics.wasserstein_1d(a, a + 0.3) == pytest.approx(0.3, abs=1e-9)


# ---- physical metrics on constructed motions -------------------------------------------------------------

_LENGTHS = np.array([0, .10, .10, .12, .38, .38, .14, .40, .40, .06, .14, .14, .20, .08, .08, .12, .13, .13,
                     .27, .27, .25, .25])


def _tpose() -> np.ndarray:
    out = np.zeros((22, 3))
    out[0] = (0.0, 0.0, 0.0)
    for j in range(1, 22):
        out[j] = out[PARENTS[j]] + REST_DIRECTIONS[j] * _LENGTHS[j]
    out[:, 1] -= out[:, 1].min()  # lowest joint on the floor
    return out


def _clip(people: list[np.ndarray], contacts: np.ndarray | None = None) -> Clip:
    pos = np.stack(people, axis=1)
    t, p = pos.shape[:2]
    rot = np.zeros((t, p, 22, 4))
    rot[..., 0] = 1
    con = np.zeros((t, p, 4), bool) if contacts is None else contacts
    return Clip(pos, rot, con)


def _standing(t: int, x: float = 0.0, z: float = 0.0, facing_back: bool = False) -> np.ndarray:
    body = _tpose()
    if facing_back:
        body[:, [0, 2]] *= -1
    return np.tile(body + [x, 0, z], (t, 1, 1))


def test_segment_distance_matches_dense_sampling():
    rng = RNG(5)
    p0, p1, q0, q1 = (rng.normal(size=(100, 3)) for _ in range(4))
    q1[:20] = q0[:20] + (p1[:20] - p0[:20])  # parallel segments too
    s = np.linspace(0, 1, 201)
    a = p0[:, None] + (p1 - p0)[:, None] * s[None, :, None]
    b = q0[:, None] + (q1 - q0)[:, None] * s[None, :, None]
    brute = np.linalg.norm(a[:, :, None] - b[:, None, :], axis=-1).min(axis=(1, 2))
    assert np.allclose(segment_distances(p0, p1, q0, q1), brute, atol=1e-2)
    assert (segment_distances(p0, p1, q0, q1) <= brute + 1e-9).all()  # never above a sampled distance


def test_standing_still_people_far_apart_score_zero():
    m = physical_metrics([_clip([_standing(30, z=-1.0), _standing(30, z=1.0, facing_back=True)])])
    assert m["skate_ground"] == 0.0 and m["jitter"] == 0.0 and m["bone_drift"] == pytest.approx(0.0, abs=1e-6)
    assert m["ground_penetration"] == 0.0 and m["interpenetration"] == 0.0
    assert m["partner_distance_mean"] == pytest.approx(2.0)


def test_sliding_planted_feet_are_skating_at_their_speed():
    t = 31
    body = _standing(t)
    body[:, :, 0] += np.linspace(0, 1.0, t)[:, None]  # slide 1 m in 1 s without lifting the feet
    planted = np.ones((t, 1, 4), bool)
    m = physical_metrics([_clip([body], planted)])
    assert m["skate_contact"] == pytest.approx(1.0, rel=1e-6)
    assert m["skate_ground"] == pytest.approx(1.0, rel=1e-6)


def test_sinking_below_the_floor_is_ground_penetration():
    body = _standing(10)
    body[..., 1] -= 0.05
    m = physical_metrics([_clip([body])])
    assert m["ground_penetration"] == pytest.approx(5.0)
    assert m["ground_penetration_frames"] == 1.0


def test_overlapping_bodies_are_interpenetration_and_jitter_and_drift_are_measured():
    a = _standing(20)
    b = _standing(20, z=0.05, facing_back=True)  # torsos 5 cm apart: the spine capsules overlap
    m = physical_metrics([_clip([a, b])])
    assert m["interpenetration"] == pytest.approx(100 * (2 * CAPSULE_RADII.max() - 0.05), abs=1.0)
    assert m["interpenetration_frames"] == 1.0
    shaky = _standing(21)
    shaky[1::2, :, 0] += 0.01  # 1 cm alternate-frame shake: |Δ²p| = 2 cm → 0.02·900 = 18 m/s²
    assert physical_metrics([_clip([shaky])])["jitter"] == pytest.approx(18.0)
    stretch = _standing(20)
    stretch[10:, 20] += [0.1, 0, 0]  # the left wrist moves 10 cm away along its (T-pose, +X) forearm for half the clip
    drift = physical_metrics([_clip([stretch])])["bone_drift"]
    assert drift == pytest.approx(50.0 / 21, rel=1e-3)  # one bone with std 50 mm, averaged over 21 bones


def test_physical_metrics_rejects_an_empty_list():
    with pytest.raises(ValueError, match="at least one clip"):
        physical_metrics([])


def test_r_precision_counts_ties_against_the_true_motion():
    text = RNG(6).normal(size=(16, 4))
    collapsed = np.zeros((16, 4))  # a generator that always makes the same motion retrieves nothing
    assert metrics.r_precision(text, collapsed, RNG(0), batch_size=16).tolist() == [0.0, 0.0, 0.0]


def test_r_precision_permutations_use_every_row_of_a_set_that_is_not_a_multiple_of_the_batch():
    emb = RNG(7).normal(size=(20, 4))
    text = emb.copy()
    text[-4:] = -emb[-4:]  # the last 4 pairs are wrong; one permutation may drop them, ten cannot all do so
    once = [metrics.r_precision(text, emb, RNG(s), batch_size=16)[0] for s in range(20)]
    many = metrics.r_precision(text, emb, RNG(0), batch_size=16, permutations=50)[0]
    assert max(once) > many > 0.7 and many == pytest.approx(16 / 20, abs=0.05)
