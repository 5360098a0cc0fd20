"""Rotation toolkit: conventions (wxyz, column vectors, InterHuman row-order 6D, BVH Euler order) and round trips."""

from __future__ import annotations

import numpy as np
import pytest

from vendor_models.motion import rotations as R

RNG = np.random.default_rng(7)


def random_quats(*shape: int) -> np.ndarray:
    return R.quat_normalize(RNG.normal(size=(*shape, 4)))


def test_quat_matrix_round_trip_and_orthonormal() -> None:
    q = random_quats(2, 3, 50)
    m = R.quat_to_matrix(q)
    assert m.shape == (2, 3, 50, 3, 3)
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(m), 1.0)
    assert np.allclose(R.matrix_to_quat(m), q, atol=1e-12)


def test_matrix_to_quat_near_half_turns() -> None:
    axes = RNG.normal(size=(20, 3))
    q = R.quat_normalize(R.quat_from_axis_angle(axes, np.full(20, np.pi - 1e-7)))
    assert np.allclose(R.quat_angle(R.matrix_to_quat(R.quat_to_matrix(q)), q), 0.0, atol=1e-6)


def test_multiply_inverse_rotate_agree_with_matrices() -> None:
    a, b = random_quats(100), random_quats(100)
    v = RNG.normal(size=(100, 3))
    assert np.allclose(R.quat_to_matrix(R.quat_multiply(a, b)), R.quat_to_matrix(a) @ R.quat_to_matrix(b))
    assert np.allclose(R.quat_rotate(a, v), np.einsum("nij,nj->ni", R.quat_to_matrix(a), v))
    assert np.allclose(R.quat_normalize(R.quat_multiply(a, R.quat_inverse(a))), R.quat_identity((100,)), atol=1e-12)


def test_rotate_about_z_takes_x_to_y() -> None:
    q = R.quat_from_axis_angle(np.array([0.0, 0, 1]), np.array(np.pi / 2))
    assert np.allclose(R.quat_rotate(q, np.array([1.0, 0, 0])), [0, 1, 0])
    assert np.allclose(R.yaw_quat(np.array(np.pi / 2)), R.quat_from_axis_angle(np.array([0.0, 1, 0]), np.array(np.pi / 2)))
    # A yaw of +90° turns the +Z facing towards +X.
    assert np.allclose(R.quat_rotate(R.yaw_quat(np.array(np.pi / 2)), np.array([0.0, 0, 1])), [1, 0, 0])


@pytest.mark.parametrize("u, v", [([1, 0, 0], [0, 1, 0]), ([0, 0, 2], [0, 0, 5]), ([1, 0, 0], [-1, 0, 0]), ([0, 1, 0], [0, -3, 0])])
def test_quat_between_special_cases(u: list[float], v: list[float]) -> None:
    q = R.quat_between(np.array(u, float), np.array(v, float))
    got = R.quat_rotate(q, np.array(u, float))
    assert np.allclose(got / np.linalg.norm(got), np.array(v) / np.linalg.norm(v), atol=1e-9)


def test_quat_between_random() -> None:
    u, v = RNG.normal(size=(100, 3)), RNG.normal(size=(100, 3))
    got = R.quat_rotate(R.quat_between(u, v), u)
    assert np.allclose(got / np.linalg.norm(got, axis=-1, keepdims=True), v / np.linalg.norm(v, axis=-1, keepdims=True))


def test_6d_is_interhuman_row_order() -> None:
    assert np.array_equal(R.matrix_to_6d(np.eye(3)), [1, 0, 0, 1, 0, 0])
    m = R.quat_to_matrix(random_quats())
    expected = [m[0, 0], m[0, 1], m[1, 0], m[1, 1], m[2, 0], m[2, 1]]
    assert np.allclose(R.matrix_to_6d(m), expected)


def test_6d_round_trip_and_noise_and_zero() -> None:
    m = R.quat_to_matrix(random_quats(4, 30))
    assert np.allclose(R.sixd_to_matrix(R.matrix_to_6d(m)), m)
    noisy = R.sixd_to_matrix(R.matrix_to_6d(m) + 0.05 * RNG.normal(size=(4, 30, 6)))
    assert np.allclose(noisy @ np.swapaxes(noisy, -1, -2), np.eye(3), atol=1e-10)
    assert np.allclose(np.linalg.det(noisy), 1.0)
    assert np.allclose(R.sixd_to_matrix(np.zeros(6)), np.eye(3))
    q = random_quats(10)
    assert np.allclose(R.sixd_to_quat(R.quat_to_6d(q)), q)


def test_euler_order_is_applied_left_to_right() -> None:
    angles = np.array([30.0, -50.0, 80.0])
    z = R.euler_to_matrix(np.array([30.0, 0, 0]), "ZXY")
    x = R.euler_to_matrix(np.array([0.0, -50.0, 0]), "ZXY")
    y = R.euler_to_matrix(np.array([0.0, 0, 80.0]), "ZXY")
    assert np.allclose(R.euler_to_matrix(angles, "ZXY"), z @ x @ y)
    assert np.allclose(R.euler_to_matrix(np.array([90.0, 0, 0]), "ZYX") @ [1, 0, 0], [0, 1, 0])
    assert R.euler_to_matrix(RNG.normal(size=(5, 7, 3)), "XYZ").shape == (5, 7, 3, 3)
    with pytest.raises(ValueError, match="permutation of XYZ"):
        R.euler_to_matrix(angles, "XXY")


def test_best_fit_rotation_recovers_a_rotation() -> None:
    q = random_quats()
    src = RNG.normal(size=(5, 3))
    src /= np.linalg.norm(src, axis=-1, keepdims=True)
    fit = R.best_fit_rotation(src, R.quat_rotate(q, src))
    assert min(np.abs(fit - q).max(), np.abs(fit + q).max()) < 1e-9  # q and -q are the same rotation
