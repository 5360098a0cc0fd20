"""The shipped model's output for fixed seeds, pinned bit for bit.

Refactoring must not change what an animator gets for a seed. Work that changes the output on purpose
re-pins the hashes in the same commit and says why in its message.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from vendor_models.data.build import ensure_cache
from vendor_models.generation.generator import DEFAULT_CHECKPOINT, Generator
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.protocol import SamplerSettings

torch.set_num_threads(1)

#: sha256 of the float32 positions and rotations and the bool contacts, in that order
PINNED = {
    "generate": "0673407939dab6d132c7cbfb1b0f86633dc88b75d617929ff7f23aa47effbf5b",
    "react": "7e2a81bc6a3a09349fed790641d7138a589a3e8b2e09e741b1554faf6b41257f",
}


def clip_digest(clip: Clip) -> str:
    digest = hashlib.sha256()
    for array in (clip.positions.astype(np.float32), clip.rotations.astype(np.float32), clip.contacts.astype(bool)):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def generator() -> Generator:
    return Generator.load(DEFAULT_CHECKPOINT, "cpu")


def test_generate_is_pinned(generator: Generator) -> None:
    out = generator.generate("two people dance salsa holding hands", seconds=2.0, sampler=SamplerSettings(seed=11))
    assert clip_digest(out.clips[0]) == PINNED["generate"]


def test_react_is_pinned(generator: Generator) -> None:
    source = Clip.load(ensure_cache() / "salsa_13.npz")
    partner = Clip(source.positions[:61, :1], source.rotations[:61, :1], source.contacts[:61, :1], source.fps)
    out = generator.react(partner, "the follow spins under the lead's arm", sampler=SamplerSettings(seed=5))
    assert clip_digest(out.clips[0]) == PINNED["react"]
