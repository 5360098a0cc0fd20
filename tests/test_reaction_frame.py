"""A reaction lands where the model put it relative to the partner: the way back from the partner's
canonical frame to its world is the exact inverse of the way in (one canonical frame, not two)."""

from __future__ import annotations

import numpy as np

from vendor_models.data.build import ensure_cache
from vendor_models.generation.reaction import into_partner_world
from vendor_models.motion.canonical import canonical_frame
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.rotations import quat_angle, quat_multiply, quat_rotate, yaw_quat


def test_partner_frame_round_trip_is_exact_on_real_pairs() -> None:
    worst_m, worst_deg = 0.0, 0.0
    for name, yaw, shift in (("salsa_13", 2.0, (3.0, 0.2, -1.5)), ("salsa_01", -0.7, (-4.0, 0.0, 2.5))):
        source = Clip.load(ensure_cache() / f"{name}.npz")
        turn = yaw_quat(np.asarray(yaw))
        world_pos = quat_rotate(turn, source.positions[:121].astype(np.float64)) + np.array(shift)
        world_rot = source.rotations[:121].astype(np.float64).copy()
        world_rot[:, :, 0] = quat_multiply(np.broadcast_to(turn, world_rot[:, :, 0].shape), world_rot[:, :, 0])
        partner = Clip(world_pos[:, :1], world_rot[:, :1], source.contacts[:121, :1])
        # What the model sees: the pair in the partner's canonical frame, B on the partner's floor.
        frame = canonical_frame(world_pos[:, :1])
        canon_b, canon_b_rot = frame.apply(world_pos[:, 1:], world_rot[:, 1:])
        back = into_partner_world(Clip(canon_b, canon_b_rot, source.contacts[:121, 1:]), partner)
        worst_m = max(worst_m, float(np.abs(back.positions - world_pos[:, 1:]).max()))
        worst_deg = max(worst_deg, float(np.degrees(quat_angle(back.rotations[:, :, 0], world_rot[:, 1:, 0])).max()))
    assert worst_m <= 1e-3, f"generated person misplaced by {worst_m * 100:.2f} cm"
    assert worst_deg <= 0.05, f"generated person turned by {worst_deg:.3f} degrees"

