"""Rotation arithmetic in numpy, vectorised over any leading dimensions.

Quaternions are (w, x, y, z) and act on column vectors: ``quat_rotate(q, v)`` = R(q) v, and
``quat_multiply(a, b)`` rotates by ``b`` first, then ``a`` (same as matrices ``A @ B``).

The 6D rotation representation follows InterHuman's ROW order: the first two columns of the matrix,
flattened row-major, ``[R00, R01, R10, R11, R20, R21]``; identity is ``[1, 0, 0, 1, 0, 0]``. Using that
order (not pytorch3d's first-two-rows order) keeps our features bit-compatible with InterGen/InterMask data.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-9


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def quat_identity(shape: tuple[int, ...] = ()) -> np.ndarray:
    """Identity quaternions of the given leading shape."""
    q = np.zeros((*shape, 4), dtype=np.float64)
    q[..., 0] = 1.0
    return q


def quat_normalize(q: np.ndarray) -> np.ndarray:
    """Unit quaternions with w >= 0 (one canonical sign, so equal rotations compare equal)."""
    q = _f64(q)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), _EPS)
    return np.where(q[..., :1] < 0, -q, q)


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    """Conjugate = inverse for unit quaternions."""
    q = _f64(q)
    return np.concatenate([q[..., :1], -q[..., 1:]], axis=-1)


quat_inverse = quat_conjugate


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a ⊗ b (apply b, then a)."""
    a, b = _f64(a), _f64(b)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    q, v = _f64(q), _f64(v)
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) → rotation matrices (..., 3, 3)."""
    q = _f64(q)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), _EPS)
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )
    return m.reshape(*q.shape[:-1], 3, 3)


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) → unit quaternions (..., 4), w >= 0.

    Rotations under about 140° (most poses) come straight from the trace; the rest use the largest of
    the four candidate denominators, so the result stays accurate near 180°.
    """
    m = _f64(m)
    q = np.stack([1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2], m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)
    far = q[..., 0] < 0.5  # 4w² < 0.5
    if np.any(far):
        q[far] = _quat_from_largest_denominator(m[far])
    return quat_normalize(q)


def _quat_from_largest_denominator(m: np.ndarray) -> np.ndarray:
    """Unnormalised quaternions of matrices [N,3,3], each from whichever of w, x, y, z is largest."""
    m00, m11, m22 = m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]
    cands = np.stack(
        [
            np.stack([1 + m00 + m11 + m22, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1),
            np.stack([m[:, 2, 1] - m[:, 1, 2], 1 + m00 - m11 - m22, m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0]], -1),
            np.stack([m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0], 1 - m00 + m11 - m22, m[:, 1, 2] + m[:, 2, 1]], -1),
            np.stack([m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1], 1 - m00 - m11 + m22], -1),
        ],
        axis=-2,
    )
    choice = np.argmax(np.stack([m00 + m11 + m22, m00, m11, m22], -1), axis=-1)
    return cands[np.arange(len(m)), choice]


def quat_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The shortest rotation carrying direction u onto direction v (both (..., 3), any length).

    For opposite vectors it picks a half-turn about an axis perpendicular to u.
    """
    u, v = _f64(u), _f64(v)
    u = u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), _EPS)
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), _EPS)
    dot = np.sum(u * v, axis=-1, keepdims=True)
    axis = np.cross(u, v)
    q = np.concatenate([1.0 + dot, axis], axis=-1)
    opposite = (1.0 + dot[..., 0]) < 1e-8
    if np.any(opposite):
        helper = np.where(np.abs(u[..., :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
        perp = np.cross(u, helper)
        perp /= np.maximum(np.linalg.norm(perp, axis=-1, keepdims=True), _EPS)
        q = np.where(opposite[..., None], np.concatenate([np.zeros_like(dot), perp], -1), q)
    return quat_normalize(q)


def quat_from_axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Quaternions for rotations by ``angle`` radians about ``axis`` (normalised here)."""
    axis = _f64(axis)
    axis = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), _EPS)
    half = 0.5 * _f64(angle)[..., None]
    return np.concatenate([np.cos(half), np.sin(half) * axis], axis=-1)


def yaw_quat(angle: np.ndarray) -> np.ndarray:
    """Rotations about +Y (model up) by ``angle`` radians."""
    angle = _f64(angle)
    return quat_from_axis_angle(np.broadcast_to([0.0, 1.0, 0.0], (*angle.shape, 3)), angle)


def matrix_to_6d(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) → InterHuman row-order 6D (..., 6) = ``m[..., :, :2]`` flattened."""
    return _f64(m)[..., :, :2].reshape(*np.shape(m)[:-2], 6)


def sixd_to_matrix(d6: np.ndarray) -> np.ndarray:
    """InterHuman row-order 6D (..., 6) → rotation matrices, by Gram–Schmidt on the two stored columns.

    A zero vector (InterMask's placeholder for the root) decodes to the identity rather than NaN.
    """
    d6 = _f64(d6)
    a, b = d6[..., 0::2], d6[..., 1::2]
    degenerate = np.linalg.norm(a, axis=-1, keepdims=True) < _EPS
    a = np.where(degenerate, np.array([1.0, 0, 0]), a)
    c0 = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b - np.sum(c0 * b, axis=-1, keepdims=True) * c0
    small = np.linalg.norm(b, axis=-1, keepdims=True) < _EPS
    fallback = np.cross(np.where(np.abs(c0[..., :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 0, 1.0])), c0)
    b = np.where(small, fallback, b)
    c1 = b / np.linalg.norm(b, axis=-1, keepdims=True)
    c2 = np.cross(c0, c1)
    return np.stack([c0, c1, c2], axis=-1)


def quat_to_6d(q: np.ndarray) -> np.ndarray:
    return matrix_to_6d(quat_to_matrix(q))


def sixd_to_quat(d6: np.ndarray) -> np.ndarray:
    return matrix_to_quat(sixd_to_matrix(d6))


def _axis_matrix(axis: str, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    rows = {
        "X": [one, zero, zero, zero, c, -s, zero, s, c],
        "Y": [c, zero, s, zero, one, zero, -s, zero, c],
        "Z": [c, -s, zero, s, c, zero, zero, zero, one],
    }[axis]
    return np.stack(rows, axis=-1).reshape(*angle.shape, 3, 3)


def euler_to_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """BVH Euler angles in degrees (..., 3), listed in channel ``order`` (e.g. "ZXY"), → matrices.

    BVH semantics: the channels are applied left to right as ``R = R_first @ R_second @ R_third``.
    """
    order = order.upper()
    if len(order) != 3 or set(order) != {"X", "Y", "Z"}:
        raise ValueError(f"Euler order must be a permutation of XYZ, got {order!r}")
    rad = np.deg2rad(_f64(angles_deg))
    m = _axis_matrix(order[0], rad[..., 0])
    m = m @ _axis_matrix(order[1], rad[..., 1])
    return m @ _axis_matrix(order[2], rad[..., 2])


def quat_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in radians of the rotation between unit quaternions a and b."""
    dot = np.abs(np.sum(_f64(a) * _f64(b), axis=-1))
    return 2.0 * np.arccos(np.clip(dot, -1.0, 1.0))


def best_fit_rotation(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The rotation (quaternion) that best carries unit directions src [K, 3] onto dst [K, 3] (Kabsch).

    With one direction the answer is not unique, so it returns the shortest arc (:func:`quat_between`).
    """
    src, dst = _f64(src), _f64(dst)
    if src.shape[0] == 1:
        return quat_between(src[0], dst[0])
    u, _, vt = np.linalg.svd(src.T @ dst)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    return matrix_to_quat(vt.T @ np.diag([1.0, 1.0, d]) @ u.T)


def local_from_world(world: np.ndarray, parents: tuple[int, ...]) -> np.ndarray:
    """World rotations W [..., J, 4] → local q_j = W_parent⁻¹ · W_j (roots, parent −1, keep W)."""
    idx = np.array(parents)
    child = np.flatnonzero(idx >= 0)
    local = np.array(world, copy=True)
    local[..., child, :] = quat_multiply(quat_inverse(local[..., idx[child], :]), local[..., child, :])
    return quat_normalize(local)
