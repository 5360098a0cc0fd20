"""THE pose solver on its own (numpy only): following the clip's directions on a cartoon skeleton, and a
reach that gives up instead of folding a limb."""

from __future__ import annotations

import numpy as np
from h4_scenes import clip_rest_joints, salsa_clip

from vendor_models.motion import two_bone
from vendor_models.motion.skeleton import JOINT_INDEX, PARENTS, model_to_blender
from vendor_models.motion.solver import (
    BLENDER_AXES,
    PoseSolver,
    Skeleton,
    world_rotations,
)

J = JOINT_INDEX


def _setup() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    clip = salsa_clip(120, start=0)
    rest = clip_rest_joints(clip, 0)
    goals = model_to_blender(clip.positions[:, 0].astype(np.float64))
    return rest, goals, world_rotations(clip.rotations[:, 0], BLENDER_AXES)


def test_following_directions_keeps_them_on_a_cartoon_skeleton() -> None:
    """Forearms twice as long, shins half as long: every bone still points along the clip's direction."""
    rest, goals, turns = _setup()
    cartoon = rest.copy()
    for side in ("left", "right"):
        for joint, factor in (("wrist", 2.0), ("ankle", 0.5)):
            j = J[f"{side}_{joint}"]
            cartoon[j] = cartoon[PARENTS[j]] + factor * (rest[j] - rest[PARENTS[j]])
    cartoon[J["left_foot"]] += cartoon[J["left_ankle"]] - rest[J["left_ankle"]]
    cartoon[J["right_foot"]] += cartoon[J["right_ankle"]] - rest[J["right_ankle"]]
    pose = PoseSolver(Skeleton.of_joints(cartoon), BLENDER_AXES).solve(goals, turns)
    for j, p in enumerate(PARENTS):
        if p < 0 or j in (J["left_collar"], J["right_collar"], J["left_hip"], J["right_hip"], J["spine1"]):
            continue  # branches placed by their parent's rotation, not aimed
        got, want = pose.heads[:, j] - pose.heads[:, p], goals[:, j] - goals[:, p]
        cos = np.sum(got * want, -1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(want, axis=-1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 0.1, j


def test_a_reach_that_would_fold_the_limb_keeps_the_clips_directions() -> None:
    """A long forearm asked to bring the wrist next to the shoulder would fold: the reach gives up."""
    frames = 5
    base = np.zeros((frames, 3))
    upper, lower = np.tile([1.0, 0.0, 0.0], (frames, 1)), np.tile([0.0, 0.0, -1.0], (frames, 1))
    natural = np.tile([0.0, 1.0, 0.0], (frames, 1))
    near = two_bone.Reach(np.tile([0.3, 0.0, 0.0], (frames, 1)), np.ones(frames))
    mid, end = two_bone.reach(base, upper, lower, (0.3, 0.6), near, natural)
    np.testing.assert_allclose(mid, base + 0.3 * upper)  # folding 150° more than the clip: not reached
    np.testing.assert_allclose(end, base + 0.3 * upper + 0.6 * lower)
    easy = two_bone.Reach(np.tile([0.5, 0.0, -0.5], (frames, 1)), np.ones(frames))
    mid, end = two_bone.reach(base, upper, lower, (0.3, 0.6), easy, natural)
    np.testing.assert_allclose(end, easy.target)  # within reach and bending less: reached
    np.testing.assert_allclose(np.linalg.norm(mid - base, axis=-1), 0.3)
    np.testing.assert_allclose(np.linalg.norm(easy.target - mid, axis=-1), 0.6)
    far = two_bone.Reach(np.tile([3.0, 0.0, 0.0], (frames, 1)), np.ones(frames))
    _, end = two_bone.reach(base, upper, lower, (0.3, 0.6), far, natural)
    np.testing.assert_allclose(end, base + 0.3 * upper + 0.6 * lower)  # out of reach: an arm gives up
