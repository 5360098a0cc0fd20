"""Edits in time with an imported official model (the fake release of ../shared/data/official_intermask_fixture):
a regenerated stretch keeps the rest bit for bit, a long take and a long reaction are windowed and each
map is decoded once — the official VQ-VAE's graph layers treat frame 0 of every decode differently."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from official_fixture import FIXTURE
from test_official_generation import official, store  # noqa: F401  (module fixtures: the imported fixture model)

from vendor_models.generation.generator import Generator
from vendor_models.generation.long_take import take, take_reaction
from vendor_models.generation.time_edit import extend, regenerate
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.protocol import SamplerSettings, Segment

torch.set_num_threads(1)
pytestmark = [pytest.mark.skipif(not FIXTURE.is_dir(), reason=f"official fixture not found at {FIXTURE}"),
              pytest.mark.timeout(600)]


def spy_decodes(generator: Generator, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """Record the shape of every code map the official VQ-VAE decodes (each item is decoded alone)."""
    seen: list[tuple[int, ...]] = []
    original = generator.vq.vq.decode

    def recorded(codes: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(codes.shape))
        return original(codes)

    monkeypatch.setattr(generator.vq.vq, "decode", recorded)
    return seen


def test_an_official_edit_keeps_the_rest_and_is_seeded(official: Generator) -> None:  # noqa: F811
    base = official.generate("two people hug", seconds=3.0, sampler=SamplerSettings(seed=1, steps=2)).clips[0]
    runs = [regenerate(official, base, 30, 59, person=person, sampler=SamplerSettings(seed=seed, steps=2)).clips[0]
            for person, seed in (("both", 2), ("both", 2), ("a", 2))]
    for clip in runs:
        assert np.array_equal(clip.positions[:30], base.positions[:30]) and np.array_equal(clip.positions[60:], base.positions[60:])
        assert not np.allclose(clip.positions[30:60, 0], base.positions[30:60, 0])
        assert clip.meta["model"] == official.name and clip.meta["steps"] == 2
    assert np.array_equal(runs[0].positions, runs[1].positions)
    assert np.array_equal(runs[2].positions[:, 1], base.positions[:, 1])
    longer = extend(official, base, 1.5, sampler=SamplerSettings(seed=3, steps=2)).clips[0]
    assert longer.num_frames == base.num_frames + 45 and np.array_equal(longer.positions[:base.num_frames], base.positions)


def test_an_official_long_take_is_decoded_once_per_person(official: Generator,  # noqa: F811
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    decoded = spy_decodes(official, monkeypatch)
    out = take(official, [Segment("two people hug", 6), Segment("one pushes the other away", 6)],
               sampler=SamplerSettings(seed=1, steps=2))
    clip = out.clips[0]
    assert clip.num_frames == 360 and clip.meta["windows"] == 2
    assert decoded == [(1, 5, 90), (1, 5, 90)]                          # person A, person B: the whole take each
    assert np.isfinite(clip.positions).all()


def test_an_official_long_reaction_keeps_the_partner(official: Generator,  # noqa: F811
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    made = take(official, [Segment("two people dance", 11)], sampler=SamplerSettings(seed=4, steps=2)).clips[0]
    partner = Clip(made.positions[:, :1], made.rotations[:, :1], made.contacts[:, :1], 30.0)
    decoded = spy_decodes(official, monkeypatch)
    clip = take_reaction(official, partner, [Segment("the other one follows", 11)],
                         sampler=SamplerSettings(seed=5, steps=2)).clips[0]
    assert clip.meta["windows"] == 2 and clip.num_frames == 324
    assert np.array_equal(clip.positions[:, 0], partner.positions[:324, 0])
    assert decoded == [(1, 5, 81)]                                        # only person B, once
