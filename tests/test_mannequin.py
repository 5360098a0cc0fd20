"""The built-in mannequins: a body that reads as a person, two colours, and where a bake puts them.

The shape checks read the Blender mesh the add-on builds; the placement checks read the skinned mesh as
Blender evaluates it (depsgraph) after baking a real salsa pair, never our own solver's numbers.
"""

from __future__ import annotations

import bpy
import numpy as np
from h4_scenes import fresh_scene, salsa_clip

from intermask_blender.baking.bake import bake_clip
from intermask_blender.rigs.mannequin import COLOURS, NAMES, rest_joints
from intermask_blender.rigs.mannequin_body import EYES, _lathe, _parts
from intermask_blender.rigs.rig_rest import Placement
from intermask_blender.rigs.rig_specs import resolve_rig
from vendor_models.motion.skeleton import JOINT_INDEX, JOINT_NAMES, blender_to_model
from vendor_models.motion.solver import world_rotations


def _weights(body: bpy.types.Object) -> np.ndarray:
    """[N, groups] vertex weights, columns in ``body.vertex_groups`` order."""
    out = np.zeros((len(body.data.vertices), len(body.vertex_groups)))
    for v in body.data.vertices:
        for g in v.groups:
            out[v.index, g.group] = g.weight
    return out


def _rest(body: bpy.types.Object) -> np.ndarray:
    co = np.empty(len(body.data.vertices) * 3)
    body.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def _evaluated(body: bpy.types.Object) -> np.ndarray:
    """World positions of the skinned body's vertices as Blender draws them now."""
    evaluated = body.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    co = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", co)
    evaluated.to_mesh_clear()
    world = np.array(evaluated.matrix_world)
    return co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3]


def _eye_vertices(body: bpy.types.Object) -> np.ndarray:
    eyes = [p for p in body.data.polygons if p.material_index == EYES]
    return np.unique([i for p in eyes for i in p.vertices])


def test_every_part_is_a_closed_surface_facing_outwards() -> None:
    """Closed and outward, or smooth shading and Solid mode's backface culling show holes and dark insides."""
    for part in _parts(rest_joints()):
        verts, faces, _ = _lathe(part)
        loops = [f[f >= 0] for f in faces]
        edges = np.sort(np.concatenate([np.stack([f, np.roll(f, -1)], axis=1) for f in loops]), axis=1)
        _, counts = np.unique(edges, axis=0, return_counts=True)
        assert (counts == 2).all()
        centre = verts.mean(axis=0)  # signed volume of the fan of triangles from the centre: > 0 when outward
        tris = np.concatenate([np.stack([f[[0, k, k + 1]] for k in range(1, len(f) - 1)]) for f in loops])
        a, b, c = (verts[tris[:, i]] - centre for i in range(3))
        assert np.einsum("ij,ij->i", a, np.cross(b, c)).sum() > 0


def test_mannequin_has_a_face_hands_and_feet_skinned_smooth_in_its_own_colour() -> None:
    scene = fresh_scene()
    people = [resolve_rig("mannequin", scene, p) for p in range(2)]
    joints = dict(zip(JOINT_NAMES, rest_joints()))
    for person, armature in enumerate(people):
        body = armature.children[0]
        rest, weights = _rest(body), _weights(body)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)  # every vertex follows the skeleton
        owned = {g.name: rest[weights[:, g.index] > 0.5] for g in body.vertex_groups}
        head = owned["head"]
        assert head[:, 2].min() > joints["neck"][2] and head[:, 2].max() - joints["head"][2] > 0.15
        eyes = rest[_eye_vertices(body)]
        middle = (head[:, 1].min() + head[:, 1].max()) / 2.0
        assert len(eyes) and (eyes[:, 1] < middle - 0.06).all()  # on the face side (-Y)
        assert head[:, 1].min() < eyes[:, 1].min() - 0.01  # and a nose sticks out further
        for side, out in (("left", 1.0), ("right", -1.0)):
            hand = owned[f"{side}_wrist"]
            assert (hand[:, 0] * out).max() - joints[f"{side}_wrist"][0] * out > 0.14  # a hand's length
            foot = np.concatenate([owned[f"{side}_ankle"], owned[f"{side}_foot"]])
            assert joints[f"{side}_ankle"][1] - foot[:, 1].min() > 0.15  # the foot points forward
            assert -0.01 < foot[:, 2].min() < 0.02  # and stands on the floor
        assert all(p.use_smooth for p in body.data.polygons) and len(rest) > 4000
        skin = body.data.materials[0]
        bsdf = next(n for n in skin.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
        for shown in (skin.diffuse_color, bsdf.inputs["Base Color"].default_value, body.color):
            np.testing.assert_allclose(tuple(shown), COLOURS[person], atol=1e-6)  # Solid mode and render agree
    a, b = (np.array(c[:3]) for c in COLOURS)
    assert np.abs(a - b).max() > 0.5  # far apart, not two shades of one colour


def _yaw(direction: np.ndarray) -> float:
    """Heading (degrees) of a Blender-axes direction on the floor, 0 along the model's +Z (Blender -Y)."""
    model = blender_to_model(direction)
    return float(np.degrees(np.arctan2(model[0], model[2])))


def test_baked_mannequins_start_apart_where_the_clip_puts_them_facing_its_way() -> None:
    """Placement and face direction of what Blender shows: the skinned bodies, evaluated after a real bake.

    The face is compared with where the clip's head looks (its world rotation's forward), since the bake
    now follows the clip's head rather than the body's facing (a dancer's head turns up to ~90° ahead of
    the body in this window); a face on the back or side of the head fails.
    """
    scene = fresh_scene()
    clip = salsa_clip(90)
    people = [resolve_rig("mannequin", scene, p) for p in range(2)]
    report = bake_clip(scene, clip, people, name="salsa")
    for frame in (0, 30, 60, 89):
        scene.frame_set(report.frame_start + frame)
        boxes = []
        for person, armature in enumerate(people):
            body = armature.children[0]
            world = _evaluated(body)
            weights = _weights(body)
            torso = world[sum(weights[:, body.vertex_groups[b].index] for b in ("pelvis", "spine1", "spine2", "spine3")) > 0.5]
            boxes.append((torso.min(axis=0), torso.max(axis=0)))
            hips = clip.positions[frame, person, [JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]].mean(axis=0)
            at = Placement.stored(armature).to_world(hips)  # a bake puts the rig's hips on the clip's
            pelvis_part = world[_weights(body)[:, body.vertex_groups["pelvis"].index] > 0.5]
            np.testing.assert_allclose(pelvis_part[:, :2].mean(axis=0), at[:2], atol=0.1)  # the body's pelvis is there
            head = world[_weights(body)[:, body.vertex_groups["head"].index] > 0.5]
            face = world[_eye_vertices(body)].mean(axis=0) - head.mean(axis=0)
            head_forward = world_rotations(clip.rotations[frame : frame + 1, person])[0, JOINT_INDEX["head"]][:, 2]
            clip_head = np.degrees(np.arctan2(head_forward[0], head_forward[2]))  # where the clip's head looks
            off = (_yaw(face) - clip_head + 180.0) % 360.0 - 180.0
            assert abs(off) < 25.0, (NAMES[person], frame, off)
        if frame == 0:  # at the start each stands on its own spot: the torsos apart (hands may meet: they hold hands)
            (low_a, high_a), (low_b, high_b) = boxes
            assert ((high_a < low_b) | (high_b < low_a)).any(), "A's and B's bodies overlap at the first frame"
