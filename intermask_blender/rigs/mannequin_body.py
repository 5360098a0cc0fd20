"""The mannequin's body as plain arrays: smooth rounded parts laid out on the rest joints, with skin weights.

Numpy only (no bpy), so the shape can be built and checked without Blender. Every part is a lathe: rings of
elliptical cross-sections along a straight axis, closed by a pole at each end. Parts are placed relative to
the 22 rest joints (Blender axes: Z up, the person faces -Y, +X is their left), so the body follows whatever
proportions the skeleton has. Limbs are rigid pieces that overlap at rounded joints, like an artist's wooden
mannequin, so they never pinch; the torso and the feet are one piece each whose weights blend along their
length between the bones of their chain. The head has eyes and a nose on the face side, so the viewer sees
where the person looks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..seam import skeleton

#: Points around every ring: enough that shade-smooth hides the facets at viewport distances.
SEGMENTS = 24
#: Material slots of the body mesh.
BODY, EYES = 0, 1
_FRONT = np.array([0.0, -1.0, 0.0])
_UP = np.array([0.0, 0.0, 1.0])
_LEFT = np.array([1.0, 0.0, 0.0])


@dataclass
class BodyMesh:
    """Polygons as (loop_starts, loop_vertices); ``weights[bone]`` = (vertex indices, weights)."""

    vertices: np.ndarray  # [N, 3] rest positions
    loop_starts: np.ndarray  # [P] first loop of each polygon
    loop_vertices: np.ndarray  # [L] vertex index of each loop
    materials: np.ndarray  # [P] material slot of each polygon
    weights: dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass
class _Part:
    """One lathe: ring ``k`` sits at ``start + offsets[k] * axis`` with semi-axes ``radii[k]`` along (side, other)."""

    start: np.ndarray
    axis: np.ndarray  # unit
    side: np.ndarray  # unit, perpendicular to axis: the first cross-section axis
    offsets: np.ndarray  # [R] metres along the axis; the poles sit at the first and last entries
    radii: np.ndarray  # [R, 2] semi-axes (side, other); zero at the poles
    chain: list[tuple[str, float]]  # (bone, offset along the axis where it has full weight), in order
    material: int = BODY


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _capsule(start: np.ndarray, end: np.ndarray, r0: float, r1: float, bone: str, *, aspect: float = 1.0,
             side: np.ndarray = _FRONT, rings: int = 6, material: int = BODY) -> _Part:
    """A tapered capsule: spheres of radius ``r0`` at ``start`` and ``r1`` at ``end`` joined by a cone.

    The cross-section is an ellipse: semi-axis ``r`` along ``side``, ``aspect * r`` across it (a flat
    hand, a low foot).
    """
    axis = end - start
    length = float(np.linalg.norm(axis))
    axis = axis / length
    side = _unit(side - axis * (side @ axis))
    cap = np.linspace(-np.pi / 2, 0.0, rings + 1)
    offsets = np.concatenate([r0 * np.sin(cap), length + r1 * np.sin(-cap[::-1])])
    radius = np.concatenate([r0 * np.cos(cap), r1 * np.cos(cap[::-1])])
    return _Part(start, axis, side, offsets, np.stack([radius, radius * aspect], axis=1), [(bone, 0.0)], material)


def _ellipsoid(centre: np.ndarray, semi: tuple[float, float, float], bone: str, *, axis: np.ndarray = _UP,
               side: np.ndarray = _LEFT, rings: int = 12, material: int = BODY) -> _Part:
    """An ellipsoid with semi-axes (along ``axis``, along ``side``, along the third axis)."""
    phi = np.linspace(0.0, np.pi, rings + 1)
    along, across, other = semi
    radii = np.stack([across * np.sin(phi), other * np.sin(phi)], axis=1)
    return _Part(centre - along * axis, axis, side, along * (1.0 - np.cos(phi)), radii, [(bone, 0.0)], material)


def _profile(start: np.ndarray, end: np.ndarray, table: np.ndarray, chain: list[tuple[str, float]]) -> _Part:
    """An upright lathe whose rings are rows (fraction of start→end, half width along X, half depth)."""
    axis = end - start
    length = float(np.linalg.norm(axis))
    return _Part(start, axis / length, _LEFT, table[:, 0] * length, table[:, 1:], chain)


def _lathe(part: _Part) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices, quad/triangle faces (as index lists padded with -1) and axial offsets of one part."""
    other = np.cross(part.axis, part.side)
    angle = np.linspace(0.0, 2.0 * np.pi, SEGMENTS, endpoint=False)
    inner = slice(1, -1)  # the first and last rings collapse to poles
    ring_centres = part.start + part.offsets[inner, None] * part.axis
    directions = np.cos(angle)[None, :, None] * part.radii[inner, 0, None, None] * part.side \
        + np.sin(angle)[None, :, None] * part.radii[inner, 1, None, None] * other
    rings = (ring_centres[:, None, :] + directions).reshape(-1, 3)
    poles = part.start + part.offsets[[0, -1], None] * part.axis
    vertices = np.concatenate([rings, poles])
    axial = np.concatenate([np.repeat(part.offsets[inner], SEGMENTS), part.offsets[[0, -1]]])
    count = len(part.offsets) - 2
    bottom, top = count * SEGMENTS, count * SEGMENTS + 1
    j = np.arange(SEGMENTS)
    nxt = (j + 1) % SEGMENTS
    r = np.arange(count - 1)[:, None]
    # Winding: the lathe turns counter-clockwise about the axis, so these face outwards.
    quads = np.stack([r * SEGMENTS + j, r * SEGMENTS + nxt, (r + 1) * SEGMENTS + nxt, (r + 1) * SEGMENTS + j], axis=-1).reshape(-1, 4)
    low = np.stack([np.full(SEGMENTS, bottom), nxt, j, np.full(SEGMENTS, -1)], axis=-1)
    last = (count - 1) * SEGMENTS
    high = np.stack([last + j, last + nxt, np.full(SEGMENTS, top), np.full(SEGMENTS, -1)], axis=-1)
    return vertices, np.concatenate([low, quads, high]), axial


def _chain_weights(chain: list[tuple[str, float]], axial: np.ndarray) -> dict[str, np.ndarray]:
    """Per bone, weights along the axis: full at its own offset, blending linearly into its neighbours'."""
    stops = np.array([offset for _, offset in chain])
    weights = {}
    for i, (bone, _) in enumerate(chain):
        one_hot = np.zeros(len(chain))
        one_hot[i] = 1.0
        weights[bone] = np.interp(axial, stops, one_hot)
    return weights


def _parts(joints: np.ndarray) -> list[_Part]:
    """The body laid out on the rest joints (see the module docstring for the axes)."""
    at = {name: joints[j] for j, name in enumerate(skeleton.JOINT_NAMES)}
    z = _UP
    pelvis, neck, head = at["pelvis"], at["neck"], at["head"]
    bottom = pelvis - 0.13 * z  # the crotch
    torso_chain = [(b, float(at[b][2] - bottom[2])) for b in ("pelvis", "spine1", "spine2", "spine3")]
    # Crotch to shoulders: (fraction of the way from the crotch to the neck joint, half width, half depth).
    torso = np.array([[0.0, 0, 0], [0.03, 0.09, 0.07], [0.1, 0.145, 0.1], [0.19, 0.155, 0.105], [0.3, 0.137, 0.096],
                      [0.42, 0.125, 0.09], [0.58, 0.14, 0.1], [0.72, 0.16, 0.108], [0.84, 0.165, 0.1],
                      [0.92, 0.145, 0.088], [0.97, 0.1, 0.07], [1.0, 0, 0]])
    head_centre = head + np.array([0.0, -0.01, 0.07])
    parts = [
        _profile(bottom, neck + 0.01 * z, torso, torso_chain),
        _capsule(neck, head, 0.052, 0.047, "neck", rings=4),
        _ellipsoid(head_centre, (0.112, 0.08, 0.097), "head", rings=14),
        _capsule(head_centre + np.array([0.0, -0.08, -0.02]), head_centre + np.array([0.0, -0.105, -0.032]),
                 0.014, 0.01, "head", rings=4),
    ]
    for x in (-1.0, 1.0):
        eye = head_centre + np.array([0.033 * x, -0.082, 0.018])
        parts.append(_ellipsoid(eye, (0.014, 0.014, 0.008), "head", rings=6, material=EYES))
    return parts + _limbs(at, "left") + _limbs(at, "right")


def _limbs(at: dict[str, np.ndarray], side: str) -> list[_Part]:
    """One side's shoulder, arm, hand (palm and thumb, palm down as in the T-pose), leg and foot."""
    def j(name: str) -> np.ndarray:
        return at[f"{side}_{name}"]

    forearm = _unit(j("wrist") - j("elbow"))
    thumb_base = j("wrist") + 0.03 * forearm + np.array([0.0, -0.025, -0.005])
    heel = j("ankle") + np.array([0.0, 0.03, -0.062])  # the sole sits under the rest ankle and toe joints
    toe = j("foot") + np.array([0.0, -0.03, -0.006])
    ball = float((j("foot") - heel) @ _unit(toe - heel))
    foot = _capsule(heel, toe, 0.046, 0.044, f"{side}_ankle", aspect=0.7, side=_LEFT, rings=5)
    foot.chain = [(f"{side}_ankle", ball - 0.05), (f"{side}_foot", ball + 0.01)]  # the toes bend at the ball
    return [
        _capsule(j("collar"), j("shoulder"), 0.05, 0.058, f"{side}_collar", rings=4),
        _capsule(j("shoulder"), j("elbow"), 0.058, 0.043, f"{side}_shoulder"),
        _capsule(j("elbow"), j("wrist"), 0.042, 0.033, f"{side}_elbow"),
        _capsule(j("wrist") + 0.03 * forearm, j("wrist") + 0.12 * forearm, 0.04, 0.034, f"{side}_wrist",
                 aspect=0.45, side=_FRONT),
        _capsule(thumb_base, thumb_base + 0.045 * forearm + np.array([0.0, -0.025, -0.01]), 0.015, 0.011,
                 f"{side}_wrist", rings=4),
        _capsule(j("hip"), j("knee"), 0.08, 0.056, f"{side}_hip"),
        _capsule(j("knee"), j("ankle"), 0.056, 0.04, f"{side}_knee"),
        foot,
    ]


def build_body(joints: np.ndarray) -> BodyMesh:
    """The whole body for rest ``joints`` [22, 3] (Blender axes): vertices, polygons, materials and weights."""
    vertices, faces, materials, offset = [], [], [], 0
    weights: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for part in _parts(joints):
        verts, part_faces, axial = _lathe(part)
        vertices.append(verts)
        faces.append(np.where(part_faces >= 0, part_faces + offset, -1))
        materials.append(np.full(len(part_faces), part.material))
        for bone, w in _chain_weights(part.chain, axial).items():
            keep = w > 1e-4
            indices, values = weights.get(bone, (np.empty(0, np.int64), np.empty(0)))
            weights[bone] = (np.concatenate([indices, np.flatnonzero(keep) + offset]), np.concatenate([values, w[keep]]))
        offset += len(verts)
    polygons = np.concatenate(faces)
    sizes = (polygons >= 0).sum(axis=1)
    return BodyMesh(
        vertices=np.concatenate(vertices),
        loop_starts=np.concatenate([[0], np.cumsum(sizes)[:-1]]),
        loop_vertices=polygons[polygons >= 0],
        materials=np.concatenate(materials),
        weights=weights,
    )
