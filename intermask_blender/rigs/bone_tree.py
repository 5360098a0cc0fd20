"""A pure-data snapshot of an armature's bones: what the structural bone-map search reads.

Taken once from bpy (:func:`bone_tree_of`); everything after that is plain python/numpy, so the search and
the map checks run (and are tested) without Blender and never touch bpy per query. Positions are rest
heads/tails in the armature's own space: a rig's frame may be Y-up or scaled by its parents, so the search
finds up, left and forward from the bones themselves, not from the axes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np


@dataclass
class BoneTree:
    """Bone names, parents (-1 at the top), rest heads/tails [B,3], deform flags and IK constraint targets."""

    names: list[str]
    parents: np.ndarray
    heads: np.ndarray
    tails: np.ndarray
    deform: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: bone → bones its IK constraints name (target and pole): a foot an IK shin points at
    ik_targets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: armature space → world directions (rotation only): the last resort for which way a rig faces
    world_rotation: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        self.parents = np.asarray(self.parents, dtype=np.int64)
        self.heads = np.asarray(self.heads, dtype=np.float64).reshape(-1, 3)
        self.tails = np.asarray(self.tails, dtype=np.float64).reshape(-1, 3)
        if self.deform.shape != (len(self.names),):
            self.deform = np.ones(len(self.names), dtype=bool)

    def __len__(self) -> int:
        return len(self.names)

    @cached_property
    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    @cached_property
    def children(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.names]
        for b, p in enumerate(self.parents):
            if p >= 0:
                out[p].append(b)
        return out

    @cached_property
    def descendant_counts(self) -> np.ndarray:
        counts = np.zeros(len(self.names), dtype=np.int64)
        for b in self._deepest_first:
            p = self.parents[b]
            if p >= 0:
                counts[p] += counts[b] + 1
        return counts

    @cached_property
    def depth(self) -> np.ndarray:
        depth = np.zeros(len(self.names), dtype=np.int64)
        for b in self._parents_first:
            if self.parents[b] >= 0:
                depth[b] = depth[self.parents[b]] + 1
        return depth

    @cached_property
    def _parents_first(self) -> list[int]:
        order, todo = [], [b for b in range(len(self.names)) if self.parents[b] < 0]
        while todo:
            b = todo.pop()
            order.append(b)
            todo += self.children[b]
        return order

    @property
    def _deepest_first(self) -> list[int]:
        return self._parents_first[::-1]

    def ancestors(self, b: int) -> list[int]:
        """Parent, grandparent, ... of bone ``b`` (nearest first)."""
        out = []
        p = int(self.parents[b])
        while p >= 0:
            out.append(p)
            p = int(self.parents[p])
        return out

    def is_ancestor(self, a: int, b: int) -> bool:
        """Whether ``a`` is a strict ancestor of ``b``."""
        return a in self.ancestors(b)

    def lca(self, a: int, b: int) -> int:
        """Lowest common ancestor-or-self of ``a`` and ``b`` (-1 when they are in separate trees)."""
        above = {a, *self.ancestors(a)}
        return next((x for x in (b, *self.ancestors(b)) if x in above), -1)

    def subtree(self, b: int) -> list[int]:
        out, todo = [], [b]
        while todo:
            x = todo.pop()
            out.append(x)
            todo += self.children[x]
        return out

    def path_down(self, top: int, bottom: int) -> list[int]:
        """Bones from below ``top`` down to ``bottom`` inclusive (``top`` must be an ancestor-or-self)."""
        path = [bottom]
        while path[-1] != top:
            path.append(int(self.parents[path[-1]]))
        return path[::-1][1:]

    def end(self, b: int, continuation: int | None = None) -> np.ndarray:
        """Where bone ``b`` ends: its continuing child's head when given, else its tail.

        Imported rigs (glTF, FBX) often have stub tails that say nothing; a child's head always does.
        """
        return self.heads[continuation] if continuation is not None else self.tails[b]


def bone_tree_of(armature: Any) -> BoneTree:
    """Snapshot an armature object's rest bones (no mode change, no bpy.ops)."""
    bones = armature.data.bones
    names = [b.name for b in bones]
    index = {n: i for i, n in enumerate(names)}
    parents = [index[b.parent.name] if b.parent else -1 for b in bones]
    heads = np.array([b.head_local[:] for b in bones], dtype=np.float64).reshape(-1, 3)
    tails = np.array([b.tail_local[:] for b in bones], dtype=np.float64).reshape(-1, 3)
    ik: dict[str, tuple[str, ...]] = {}
    for pose_bone in armature.pose.bones:
        targets = tuple(
            str(name) for c in pose_bone.constraints if c.type == "IK" and not c.mute
            for obj, name in ((c.target, c.subtarget), (c.pole_target, c.pole_subtarget)) if obj == armature and name in index
        )
        if targets:
            ik[pose_bone.name] = targets
    world = np.array(armature.matrix_world, dtype=np.float64)[:3, :3]
    rotation = world / np.maximum(np.linalg.norm(world, axis=0, keepdims=True), 1e-12)
    return BoneTree(names, np.array(parents), heads, tails, np.array([b.use_deform for b in bones], dtype=bool), ik, rotation)
