"""Which BVH joint stands for each of our 22 SMPL joints, per known skeleton.

A target joint is a BVH joint, the End Site below one (the SMPL "foot" joint is the ball of the foot,
i.e. the toe end of the BVH foot bone), or a point part-way along a BVH bone (the Daz spine has two
joints where SMPL has three). Its world rotation is always the rotation of the BVH joint it hangs on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion.skeleton import JOINT_NAMES, NUM_JOINTS
from .bvh import BvhError, BvhMotion


class JointMapError(BvhError):
    """The BVH skeleton is not one we know; the message names the joints that could not be mapped."""


@dataclass(frozen=True)
class Source:
    joint: str
    end_site: bool = False  # take the joint's End Site instead of the joint
    toward: str | None = None  # with ``fraction``: a point on the bone joint → toward (a child joint)
    fraction: float = 0.0

    def needs(self) -> tuple[str, ...]:
        return (self.joint,) if self.toward is None else (self.joint, self.toward)


def _sides(template: dict[str, str], left: str, right: str) -> dict[str, Source]:
    """Expand ``{side}_x → "{S}Name"`` templates into left and right entries."""
    out = {}
    for ours, theirs in template.items():
        end = theirs.endswith("!")
        theirs = theirs.rstrip("!")
        out[ours.format(side="left")] = Source(theirs.format(S=left), end_site=end)
        out[ours.format(side="right")] = Source(theirs.format(S=right), end_site=end)
    return out


_LIMBS_DAZ = {
    "{side}_hip": "{S}Thigh", "{side}_knee": "{S}Shin", "{side}_ankle": "{S}Foot", "{side}_foot": "{S}Foot!",
    "{side}_collar": "{S}Collar", "{side}_shoulder": "{S}Shldr", "{side}_elbow": "{S}ForeArm", "{side}_wrist": "{S}Hand",
}
#: cgspeed "Daz-friendly" CMU skeleton (43 joints; bvh_daz/). Spine hip→abdomen→chest→neck: SMPL's
#: spine3 (where the collars branch) is put a quarter of the way up the chest→neck bone.
DAZ: dict[str, Source] = {
    "pelvis": Source("hip"), "spine1": Source("abdomen"), "spine2": Source("chest"),
    "spine3": Source("chest", toward="neck", fraction=0.25), "neck": Source("neck"), "head": Source("head"),
    **_sides(_LIMBS_DAZ, "l", "r"),
}

_LIMBS_CC = {
    "{side}_hip": "CC_Base_{S}_Thigh", "{side}_knee": "CC_Base_{S}_Calf", "{side}_ankle": "CC_Base_{S}_Foot",
    "{side}_foot": "CC_Base_{S}_ToeBase", "{side}_collar": "CC_Base_{S}_Clavicle",
    "{side}_shoulder": "CC_Base_{S}_Upperarm", "{side}_elbow": "CC_Base_{S}_Forearm", "{side}_wrist": "CC_Base_{S}_Hand",
}
#: iClone / Character Creator skeleton (single_iclone/). CC_Base_Hip is the body root that carries the
#: spine; CC_Base_Pelvis (zero offset) only carries the thighs.
ICLONE: dict[str, Source] = {
    "pelvis": Source("CC_Base_Hip"), "spine1": Source("CC_Base_Waist"), "spine2": Source("CC_Base_Spine01"),
    "spine3": Source("CC_Base_Spine02"), "neck": Source("CC_Base_NeckTwist01"), "head": Source("CC_Base_Head"),
    **_sides(_LIMBS_CC, "L", "R"),
}

SKELETONS: dict[str, dict[str, Source]] = {"daz": DAZ, "iclone": ICLONE}


def _missing(motion: BvhMotion, mapping: dict[str, Source]) -> list[str]:
    names = set(motion.joint_names)
    out = []
    for ours, src in mapping.items():
        absent = [n for n in src.needs() if n not in names]
        if absent:
            out.append(f"{ours} (needs {', '.join(absent)})")
        elif src.end_site and motion.index(src.joint) not in motion.end_sites:
            out.append(f"{ours} (needs an End Site under {src.joint})")
    return out


def identify(motion: BvhMotion) -> str:
    """The name of the known skeleton this BVH uses, or :class:`JointMapError` naming unmapped joints."""
    misses = {name: _missing(motion, mapping) for name, mapping in SKELETONS.items()}
    best = min(misses, key=lambda name: len(misses[name]))
    if misses[best]:
        raise JointMapError(
            f"{motion.path}: unknown skeleton; could not map {len(misses[best])} of our {NUM_JOINTS} joints "
            f"(closest known skeleton: {best}): {'; '.join(misses[best])}"
        )
    return best


def map_joints(motion: BvhMotion, skeleton: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """World positions [N, 22, 3] and world rotations [N, 22, 3, 3] of our joints (file axes and units)."""
    mapping = SKELETONS[skeleton or identify(motion)]
    rot_all, pos_all = motion.world_rotations(), motion.world_positions()
    positions = np.empty((motion.num_frames, NUM_JOINTS, 3))
    rotations = np.empty((motion.num_frames, NUM_JOINTS, 3, 3))
    for j, name in enumerate(JOINT_NAMES):
        src = mapping[name]
        k = motion.index(src.joint)
        rotations[:, j] = rot_all[:, k]
        if src.end_site:
            positions[:, j] = motion.end_site_positions(k)
        elif src.toward is not None:
            positions[:, j] = pos_all[:, k] + src.fraction * (pos_all[:, motion.index(src.toward)] - pos_all[:, k])
        else:
            positions[:, j] = pos_all[:, k]
    return positions, rotations
