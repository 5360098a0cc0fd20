"""262-D features, inverse, VQ joint channels, contacts, canonicalisation and mirroring on constructed motions."""

from __future__ import annotations

import numpy as np
import pytest

from vendor_models.data.text_mirror import mirror_text
from vendor_models.motion import canonical
from vendor_models.motion.contacts import detect_contacts
from vendor_models.motion import features as F
from vendor_models.motion.clip_file import Clip, ClipError
from vendor_models.motion.rotations import quat_angle, quat_multiply, quat_normalize, quat_rotate, yaw_quat
from vendor_models.motion.skeleton import MIRROR_PERMUTATION, PARENTS, REST_DIRECTIONS

RNG = np.random.default_rng(3)
BONE = 0.2


def forward_kinematics(root: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Positions [..., 22, 3] of a skeleton with every bone BONE long, from local rotations (the convention)."""
    world = np.empty_like(rotations)
    pos = np.empty((*rotations.shape[:-1], 3))
    world[..., 0, :], pos[..., 0, :] = rotations[..., 0, :], root
    for j in range(1, 22):
        p = PARENTS[j]
        world[..., j, :] = quat_multiply(world[..., p, :], rotations[..., j, :])
        pos[..., j, :] = pos[..., p, :] + quat_rotate(world[..., p, :], np.broadcast_to(REST_DIRECTIONS[j] * BONE, pos[..., j, :].shape))
    return pos


def random_person(frames: int = 12, yaw: float = 0.0, at: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """A smoothly moving person made by FK from random small local rotations (so positions and rotations agree)."""
    rot = quat_normalize(np.array([1.0, 0, 0, 0]) + 0.15 * np.cumsum(RNG.normal(size=(frames, 22, 4)) * 0.3, axis=0))
    rot[:, 0] = quat_multiply(yaw_quat(np.full(frames, yaw)), quat_normalize(rot[:, 0] * [1, 0.1, 1, 0.1]))
    root = np.stack([np.full(frames, at[0]) + np.linspace(0, 0.5, frames), np.full(frames, 1.0), np.full(frames, at[1])], -1)
    return forward_kinematics(root, rot), rot


def test_rest_pose_faces_plus_z_and_left_is_plus_x() -> None:
    pos = forward_kinematics(np.zeros(3), np.tile([1.0, 0, 0, 0], (22, 1)))
    assert abs(canonical.facing_angle(pos)) < 1e-9
    assert pos[1, 0] > 0 > pos[2, 0]  # left hip at +X when facing +Z


def test_person_features_layout() -> None:
    pos, rot = random_person(6)
    contacts = RNG.random((6, 4)) > 0.5
    feats = F.person_features(pos, rot, contacts)
    assert feats.shape == (5, 262) and feats.dtype == np.float32
    assert np.allclose(feats[:, F.POS], pos[:-1].reshape(5, 66), atol=1e-6)
    assert np.allclose(feats[:, F.VEL], (pos[1:] - pos[:-1]).reshape(5, 66), atol=1e-6)
    assert np.array_equal(feats[:, F.CONTACT], contacts[:-1].astype(np.float32))
    identity = F.person_features(pos, np.tile([1.0, 0, 0, 0], (6, 22, 1)), contacts)
    assert np.allclose(identity[:, F.ROT].reshape(5, 21, 6), [1, 0, 0, 1, 0, 0])


def test_clip_from_features_round_trip() -> None:
    people = [random_person(10, yaw=0.7), random_person(10, yaw=-2.0, at=(1.0, 2.0))]
    clip = Clip(np.stack([p[0] for p in people], 1), np.stack([p[1] for p in people], 1), RNG.random((10, 2, 4)) > 0.5)
    feats = F.pair_features(clip, canonical=False)
    back = F.clip_from_features(feats, meta={"prompt": "x"})
    assert back.num_frames == 9 and back.meta == {"prompt": "x"}
    assert np.allclose(back.positions, clip.positions[:-1], atol=1e-6)
    assert quat_angle(back.rotations[:, :, 1:], clip.rotations[:-1, :, 1:]).max() < 1e-3
    assert np.array_equal(back.contacts, clip.contacts[:-1])
    # The root rotation is rebuilt as the yaw of the hips/shoulders facing.
    facing = quat_rotate(back.rotations[:, :, 0], np.array([0.0, 0, 1]))
    assert np.allclose(np.arctan2(facing[..., 0], facing[..., 2]), canonical.facing_angle(back.positions), atol=1e-5)
    assert np.allclose(F.pair_features(back, canonical=False), feats[:-1], atol=1e-5)
    with pytest.raises(ClipError, match="262"):
        F.clip_from_features(np.zeros((5, 2, 263)))


def test_smooth_decoded_removes_frame_noise_and_keeps_motion_and_contacts() -> None:
    rng = np.random.default_rng(11)
    t = np.arange(90)[:, None]
    clean = np.sin(2 * np.pi * t / rng.uniform(40, 120, F.FEATURE_DIM) + rng.uniform(0, 6, F.FEATURE_DIM)).astype(np.float32)
    clean[:, F.CONTACT] = rng.random((90, 4)) > 0.5
    noisy = clean + rng.normal(scale=0.05, size=clean.shape).astype(np.float32)
    noisy[:, F.CONTACT] = clean[:, F.CONTACT]
    smooth = F.smooth_decoded(noisy)
    assert smooth.shape == clean.shape
    inner, motion = slice(5, -5), slice(0, F.CONTACT.start)
    error = lambda x: np.abs(x[inner, motion] - clean[inner, motion]).mean()  # noqa: E731
    assert error(smooth) < 0.65 * error(noisy), "frame noise is averaged out (white noise: ×0.53 at σ = 1)"
    np.testing.assert_array_equal(smooth[:, F.CONTACT], noisy[:, F.CONTACT])
    ramp = np.linspace(0, 1, 40, dtype=np.float32)[:, None] * np.ones(F.FEATURE_DIM, np.float32)
    np.testing.assert_allclose(F.smooth_decoded(ramp)[inner, motion], ramp[inner, motion], atol=1e-6)
    np.testing.assert_allclose(F.smooth_decoded(np.stack([ramp, 2 * ramp]))[1], F.smooth_decoded(2 * ramp), atol=1e-6)


def test_joint_channels_round_trip() -> None:
    feats = RNG.normal(size=(3, 8, 262)).astype(np.float32)
    channels = F.joint_channels(feats)
    assert channels.shape == (3, 8, 22, 12)
    assert np.all(channels[..., 0, 6:] == 0)  # the root carries no rotation
    assert np.allclose(channels[..., 5, 0:3], feats[..., 15:18]) and np.allclose(channels[..., 5, 3:6], feats[..., 81:84])
    assert np.allclose(channels[..., 1, 6:], feats[..., 132:138])
    back = F.features_from_joint_channels(channels)
    assert np.allclose(back[..., :258], feats[..., :258]) and np.all(back[..., 258:] == 0)
    assert np.allclose(F.features_from_joint_channels(channels, feats[..., 258:]), feats)


def still_feet(heights: list[float], frames: int = 5) -> np.ndarray:
    pos = np.tile(forward_kinematics(np.array([0.0, 1.0, 0.0]), np.tile([1.0, 0, 0, 0], (22, 1))), (frames, 1, 1))
    for joint, h in zip((7, 10, 8, 11), heights):
        pos[:, joint, 1] = h
    return pos


def test_detect_contacts_thresholds() -> None:
    # ankle 0.08 (< 0.12) in contact; toe 0.08 (> 0.05) not; ankle 0.2 not; toe 0.01 in contact.
    contacts = detect_contacts(still_feet([0.08, 0.08, 0.2, 0.01]))
    assert contacts.shape == (5, 4) and contacts.dtype == bool
    assert np.all(contacts == [True, False, False, True])
    moving = still_feet([0.0, 0.0, 0.0, 0.0])
    moving[:, 7, 0] = np.arange(5) * 0.05  # 5 cm/frame: 0.0025 m² > 0.001
    moving[:, 10, 2] = np.arange(5) * 0.02  # 2 cm/frame: 0.0004 m² < 0.001, still counted as contact
    contacts = detect_contacts(moving)
    assert not contacts[:, 0].any() and contacts[:, 1].all()
    assert detect_contacts(np.stack([moving, moving])).shape == (2, 5, 4)


def test_canonicalise_pair_places_person0_and_keeps_partner_relation() -> None:
    (p0, r0), (p1, r1) = random_person(8, yaw=1.1, at=(3.0, -2.0)), random_person(8, yaw=2.5, at=(4.0, -1.0))
    pos, rot = np.stack([p0, p1], 1), np.stack([r0, r1], 1)
    pos[:, 1, :, 1] += 0.3  # partner standing on a box: the floor is per person, as InterGen
    cpos, crot, frame = canonical.canonicalise(pos, rot)
    assert np.allclose(cpos[0, 0, 0, [0, 2]], 0, atol=1e-6)
    assert abs(canonical.facing_angle(cpos[0, 0], hips_only=True)) < 1e-5
    assert np.allclose(cpos[..., 1].min(axis=(0, 2)), 0, atol=1e-6)
    horizontal = lambda p: np.linalg.norm((p[:, 0, :, [0, 2]] - p[:, 1, :, [0, 2]]), axis=0)  # noqa: E731
    assert np.allclose(horizontal(cpos), horizontal(pos), atol=1e-5)  # one rigid transform for both
    assert quat_angle(crot[:, :, 1:], rot[:, :, 1:]).max() < 1e-3  # local rotations untouched
    facing = quat_rotate(crot[0, 0, 0], np.array([0.0, 0, 1]))
    assert abs(np.arctan2(facing[0], facing[2]) - canonical.facing_angle(cpos[0, 0])) < 0.3  # root turned with the body
    # The positions still follow from the rotations after canonicalisation.
    assert np.allclose(forward_kinematics(cpos[:, :, 0], crot.astype(np.float64)), cpos, atol=1e-4)
    shared, _, _ = canonical.canonicalise(pos, rot, shared_floor=True)
    assert shared[..., 1].min() == pytest.approx(0, abs=1e-6) and shared[:, 1, :, 1].min() > 0.25
    single, _, _ = canonical.canonicalise(p0[:, None], r0[:, None])
    assert np.allclose(single[:, 0], cpos[:, 0], atol=1e-5)
    back_pos, back_rot = frame.invert(cpos, crot)
    assert np.abs(back_pos - pos).max() < 1e-5 and np.abs(back_rot - rot).max() < 1e-6  # the exact inverse


def test_canonicalise_clip_redetects_contacts() -> None:
    pos, rot = random_person(8, yaw=0.4)
    clip = Clip(pos[:, None] + [0, 5.0, 0], rot[:, None], np.ones((8, 1, 4), bool))
    canon = canonical.canonicalise_clip(clip)
    assert np.array_equal(canon.contacts[:, 0], detect_contacts(canon.positions[:, 0]))


def test_mirror_twice_is_identity_and_matches_feature_mirror() -> None:
    people = [random_person(7, yaw=0.3), random_person(7, yaw=2.0, at=(1.0, 1.0))]
    clip = Clip(np.stack([p[0] for p in people], 1), np.stack([p[1] for p in people], 1), RNG.random((7, 2, 4)) > 0.5,
                meta={"prompt": "turn left"})
    twice = F.mirror(F.mirror(clip))
    assert np.allclose(twice.positions, clip.positions) and np.allclose(twice.rotations, clip.rotations)
    assert np.array_equal(twice.contacts, clip.contacts) and twice.meta["mirrored"] is False
    once = F.mirror(clip)
    assert once.meta["mirrored"] is True
    assert np.allclose(once.positions[:, :, 1, 0], -clip.positions[:, :, 2, 0])  # left hip = mirrored right hip
    assert np.array_equal(once.contacts[..., 0], clip.contacts[..., 2])
    # A mirrored motion is still a consistent skeleton: FK of the mirrored rotations gives the mirrored positions.
    assert np.allclose(forward_kinematics(once.positions[:, :, 0], once.rotations.astype(np.float64)), once.positions, atol=1e-4)
    feats = F.pair_features(clip, canonical=False)
    assert np.allclose(F.mirror_features(feats), F.pair_features(once, canonical=False), atol=1e-5)
    assert np.allclose(F.mirror_features(F.mirror_features(feats)), feats)
    arrays = F.mirror((clip.positions, clip.rotations, clip.contacts))
    assert np.allclose(arrays[0], once.positions)
    assert list(MIRROR_PERMUTATION[:3]) == [0, 2, 1]


@pytest.mark.parametrize("text, expected", [
    ("The left person turns right", "The right person turns left"),
    ("Left hand, RIGHT foot, Right knee", "Right hand, LEFT foot, Left knee"),
    ("spin clockwise then Counterclockwise", "spin counterclockwise then Clockwise"),
    ("anticlockwise and counter-clockwise", "clockwise and clockwise"),
    ("steps leftwards with the left-handed grip", "steps rightwards with the right-handed grip"),
    ("bright copyright leftover", "bright copyright leftover"),
])
def test_mirror_text(text: str, expected: str) -> None:
    assert mirror_text(text) == expected
