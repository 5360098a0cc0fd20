"""A small vectorised BVH reader: hierarchy, offsets, channel orders, frames, and forward kinematics.

Conventions match Blender's own importer so the two can be cross-checked: a joint's position channels
REPLACE its offset (absolute local translation), rotation channels compose left to right in the listed
order (``R = R_first @ R_second @ R_third``), and world transforms compose parent-first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..motion.rotations import euler_to_matrix


class BvhError(ValueError):
    """A BVH file that is missing, malformed or truncated; the message names the file and the problem."""


@dataclass
class BvhMotion:
    """One BVH file: skeleton (joints in file order, parents first) and raw channel values per frame."""

    path: Path
    joint_names: list[str]
    parents: np.ndarray  # [J] int, -1 for the root
    offsets: np.ndarray  # [J, 3] in file units, in the parent's frame
    channels: list[tuple[str, ...]]  # per joint, e.g. ("Xposition", ..., "Zrotation", ...)
    frames: np.ndarray  # [N, C] raw channel values
    frame_time: float
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)  # joint index → End Site offset

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise BvhError(f"{self.path}: no joint named {name!r}") from None

    def _local_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame local rotations [N, J, 3, 3] and translations [N, J, 3]."""
        n, j = self.num_frames, len(self.joint_names)
        rot = np.broadcast_to(np.eye(3), (n, j, 3, 3)).copy()
        trans = np.broadcast_to(self.offsets, (n, j, 3)).copy()
        column = 0
        for k, chans in enumerate(self.channels):
            cols = {name: column + i for i, name in enumerate(chans)}
            column += len(chans)
            for axis, name in enumerate(("Xposition", "Yposition", "Zposition")):
                if name in cols:
                    trans[:, k, axis] = self.frames[:, cols[name]]
            rot_names = [c for c in chans if c.endswith("rotation")]
            if rot_names:
                order = "".join(c[0].upper() for c in rot_names)
                rot[:, k] = euler_to_matrix(self.frames[:, [cols[c] for c in rot_names]], order)
        return rot, trans

    @cached_property
    def _world(self) -> tuple[np.ndarray, np.ndarray]:
        local_rot, local_trans = self._local_transforms()
        world_rot = np.empty_like(local_rot)
        world_pos = np.empty_like(local_trans)
        for k, parent in enumerate(self.parents):
            if parent < 0:
                world_rot[:, k] = local_rot[:, k]
                world_pos[:, k] = local_trans[:, k]
            else:
                world_rot[:, k] = world_rot[:, parent] @ local_rot[:, k]
                world_pos[:, k] = world_pos[:, parent] + np.einsum("nij,nj->ni", world_rot[:, parent], local_trans[:, k])
        return world_rot, world_pos

    def world_rotations(self) -> np.ndarray:
        """World rotation matrices [N, J, 3, 3] (file axes)."""
        return self._world[0]

    def world_positions(self) -> np.ndarray:
        """World joint positions [N, J, 3] (file axes and units)."""
        return self._world[1]

    def end_site_positions(self, joint: int) -> np.ndarray:
        """World positions [N, 3] of a joint's End Site (e.g. the toe tip below a foot joint)."""
        if joint not in self.end_sites:
            raise BvhError(f"{self.path}: joint {self.joint_names[joint]!r} has no End Site")
        rot, pos = self._world
        return pos[:, joint] + rot[:, joint] @ self.end_sites[joint]


class _Tokens:
    def __init__(self, path: Path, text: str) -> None:
        self.path, self.items, self.pos = path, text.split(), 0

    def next(self, what: str) -> str:
        if self.pos >= len(self.items):
            raise BvhError(f"{self.path}: file ends early while reading {what} (truncated header?)")
        self.pos += 1
        return self.items[self.pos - 1]

    def expect(self, word: str) -> None:
        got = self.next(repr(word))
        if got != word:
            raise BvhError(f"{self.path}: expected {word!r} but found {got!r} (token {self.pos})")

    def number(self, what: str) -> float:
        token = self.next(what)
        try:
            return float(token)
        except ValueError:
            raise BvhError(f"{self.path}: expected a number for {what}, found {token!r}") from None


def _parse_hierarchy(tokens: _Tokens) -> tuple[list[str], list[int], list[list[float]], list[tuple[str, ...]], dict[int, np.ndarray]]:
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    end_sites: dict[int, np.ndarray] = {}
    tokens.expect("HIERARCHY")
    stack: list[int] = []
    keyword = tokens.next("ROOT")
    if keyword != "ROOT":
        raise BvhError(f"{tokens.path}: expected ROOT after HIERARCHY, found {keyword!r}")
    while True:
        if keyword in ("ROOT", "JOINT"):
            names.append(tokens.next("joint name"))
            parents.append(stack[-1] if stack else -1)
            tokens.expect("{")
            stack.append(len(names) - 1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append(())
        elif keyword == "OFFSET":
            offsets[stack[-1]] = [tokens.number(f"OFFSET of {names[stack[-1]]}") for _ in range(3)]
        elif keyword == "CHANNELS":
            count = int(tokens.number(f"CHANNELS count of {names[stack[-1]]}"))
            channels[stack[-1]] = tuple(tokens.next(f"channel of {names[stack[-1]]}") for _ in range(count))
        elif keyword == "End":
            tokens.expect("Site")
            tokens.expect("{")
            tokens.expect("OFFSET")
            end_sites[stack[-1]] = np.array([tokens.number("End Site OFFSET") for _ in range(3)])
            tokens.expect("}")
        elif keyword == "}":
            stack.pop()
            if not stack:
                return names, parents, offsets, channels, end_sites
        else:
            raise BvhError(f"{tokens.path}: unexpected {keyword!r} in the HIERARCHY section (token {tokens.pos})")
        if not stack:
            raise BvhError(f"{tokens.path}: unbalanced braces in the HIERARCHY section")
        keyword = tokens.next("the HIERARCHY section")


def read_bvh(path: str | Path, max_frames: int | None = None) -> BvhMotion:
    """Read a BVH file, raising :class:`BvhError` that names the file and what is wrong with it.

    ``max_frames`` keeps only the first frames (e.g. to look at a T-pose without converting a whole file).
    """
    path = Path(path)
    if not path.is_file():
        raise BvhError(f"BVH file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BvhError(f"{path}: cannot be read ({exc})") from exc
    head, sep, motion = text.partition("MOTION")
    if not sep:
        raise BvhError(f"{path}: no MOTION section (not a BVH file, or truncated in the header)")
    names, parents, offsets, channels, end_sites = _parse_hierarchy(_Tokens(path, head))
    tokens = _Tokens(path, motion)
    tokens.expect("Frames:")
    num_frames = int(tokens.number("Frames"))
    tokens.expect("Frame")
    tokens.expect("Time:")
    frame_time = tokens.number("Frame Time")
    if num_frames < 1 or not frame_time > 0:
        raise BvhError(f"{path}: needs at least one frame and a positive Frame Time, got {num_frames} and {frame_time}")
    width = sum(len(c) for c in channels)
    values = tokens.items[tokens.pos:]
    try:
        data = np.array(values, dtype=np.float64)
    except ValueError:
        bad = next(v for v in values if not _is_number(v))
        raise BvhError(f"{path}: non-numeric value {bad!r} in the MOTION data") from None
    if data.size != num_frames * width:
        complete = data.size // width if width else 0
        kind = "truncated" if data.size < num_frames * width else "has extra values"
        raise BvhError(
            f"{path}: MOTION data {kind}: header says {num_frames} frames × {width} channels, "
            f"found {data.size} values ({complete} complete frames)"
        )
    if not np.isfinite(data).all():
        raise BvhError(f"{path}: MOTION data contains NaN or infinity")
    frames = data.reshape(num_frames, width)
    if max_frames is not None:
        frames = frames[:max_frames]
    return BvhMotion(
        path, names, np.array(parents, dtype=np.int64), np.array(offsets, dtype=np.float64), channels,
        frames, frame_time, end_sites,
    )


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
