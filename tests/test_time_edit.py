"""Regenerating a stretch and continuing a clip, on the shipped model: what is kept stays exactly as it was,
what is made is new, and the joins are no bigger than real motion's frame-to-frame changes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from edit_fixtures import real_p99

from vendor_models.data.build import ensure_cache
from vendor_models.evaluation.seams import join_jump
from vendor_models.generation.errors import GenerationError
from vendor_models.generation.generator import DEFAULT_CHECKPOINT, Generator
from vendor_models.generation.joins import BLEND_FRAMES, splice
from vendor_models.generation.time_edit import extend, regenerate
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.protocol import ErrorCode, SamplerSettings

torch.set_num_threads(1)
pytestmark = pytest.mark.timeout(300)
PROMPT = "two people dance salsa holding hands"
NEW_PROMPT = "the follow spins under the lead's arm"


@pytest.fixture(scope="module")
def shipped() -> Generator:
    return Generator.load(DEFAULT_CHECKPOINT, "cpu")


@pytest.fixture(scope="module")
def base(shipped: Generator) -> Clip:
    return shipped.generate(PROMPT, seconds=4, sampler=SamplerSettings(seed=1, steps=4)).clips[0]


def kept_equal(a: Clip, b: Clip, frames: slice, people: list[int]) -> bool:
    return all(np.array_equal(getattr(a, name)[frames, people], getattr(b, name)[frames, people])
               for name in ("positions", "rotations", "contacts"))


def test_a_regenerated_stretch_is_new_and_everything_else_is_the_original(shipped: Generator, base: Clip) -> None:
    out = regenerate(shipped, base, 40, 79, prompt=NEW_PROMPT, sampler=SamplerSettings(seed=2, steps=4))
    clip = out.clips[0]
    assert clip.num_frames == base.num_frames
    assert kept_equal(clip, base, slice(0, 40), [0, 1]) and kept_equal(clip, base, slice(80, None), [0, 1])
    moved = np.linalg.norm(clip.positions[40:80] - base.positions[40:80], axis=-1)
    assert moved.mean() > 0.05                                       # the stretch is new motion, not a copy
    for join in (40, 80):
        assert join_jump(clip, join) <= real_p99(), join
    assert clip.meta["mode"] == "edit" and clip.meta["steps"] == 4 and clip.meta["text"] == base.meta["text"]
    assert clip.meta["edit"] == {"first": 40, "last": 79, "person": "both", "prompt": NEW_PROMPT,
                                 "text": NEW_PROMPT + "."}


def test_editing_one_person_keeps_the_other_whole(shipped: Generator, base: Clip) -> None:
    clip = regenerate(shipped, base, 50, 101, person="b", sampler=SamplerSettings(seed=2, steps=4)).clips[0]
    assert kept_equal(clip, base, slice(None), [0])
    assert kept_equal(clip, base, slice(0, 50), [1]) and kept_equal(clip, base, slice(102, None), [1])
    assert np.linalg.norm(clip.positions[50:102, 1] - base.positions[50:102, 1], axis=-1).mean() > 0.05
    assert clip.meta["edit"]["text"] == base.meta["text"]            # no prompt: the clip's own
    for join in (50, 102):
        assert join_jump(clip, join, people=[1]) <= real_p99(), join


def test_a_long_stretch_of_a_long_real_take_is_windowed_with_context_on_both_sides(shipped: Generator) -> None:
    real = Clip.load(ensure_cache() / "salsa_13.npz")                # 37 s of real salsa
    take = Clip(real.positions, real.rotations, real.contacts, 30.0, {"text": "two people dance salsa"})
    clip = regenerate(shipped, take, 600, 899, sampler=SamplerSettings(seed=2, steps=2)).clips[0]   # 10 s
    assert clip.meta["windows"] == 2 and clip.num_frames == take.num_frames
    assert kept_equal(clip, take, slice(0, 600), [0, 1]) and kept_equal(clip, take, slice(900, None), [0, 1])
    assert join_jump(clip, 600) <= real_p99() and join_jump(clip, 900) <= real_p99()


def test_a_one_frame_stretch_still_joins_both_sides(shipped: Generator, base: Clip) -> None:
    clip = regenerate(shipped, base, 45, 45, sampler=SamplerSettings(seed=2, steps=2)).clips[0]
    assert kept_equal(clip, base, slice(0, 45), [0, 1]) and kept_equal(clip, base, slice(46, None), [0, 1])
    assert join_jump(clip, 45) <= real_p99() and join_jump(clip, 46) <= real_p99()


def test_the_same_seed_regenerates_the_same_motion(shipped: Generator, base: Clip) -> None:
    runs = [regenerate(shipped, base, 20, 59, prompt=NEW_PROMPT, sampler=SamplerSettings(seed=seed, steps=3)).clips[0]
            for seed in (5, 5, 6)]
    assert np.array_equal(runs[0].positions, runs[1].positions) and np.array_equal(runs[0].rotations, runs[1].rotations)
    assert not np.allclose(runs[0].positions[20:60], runs[2].positions[20:60])


def test_a_continuation_keeps_the_clip_and_joins_it(shipped: Generator, base: Clip) -> None:
    out = extend(shipped, base, 2.0, sampler=SamplerSettings(seed=3, steps=4))
    clip = out.clips[0]
    assert clip.num_frames == base.num_frames + 60
    assert kept_equal(clip, base, slice(0, base.num_frames), [0, 1])
    assert join_jump(clip, base.num_frames) <= real_p99()
    tail = clip.positions[base.num_frames:]
    assert np.linalg.norm(tail[-1] - tail[0], axis=-1).mean() > 0.05   # it moves on, it does not freeze
    assert clip.meta["mode"] == "extend" and clip.meta["extend"]["from_frame"] == base.num_frames


def test_splice_joins_motion_that_was_offset_and_moving_differently() -> None:
    real = Clip.load(ensure_cache() / "salsa_13.npz")
    kept = Clip(real.positions[:120], real.rotations[:120], real.contacts[:120], 30.0)
    drift = np.linspace(0.0, 0.6, 120)[:, None, None, None] * np.array([1.0, 0.0, 0.5])
    other = Clip(real.positions[:120] + 0.25 + drift, real.rotations[:120], real.contacts[:120], 30.0)
    naive = Clip(np.concatenate([kept.positions[:60], other.positions[60:]]), kept.rotations, kept.contacts, 30.0)
    assert join_jump(naive, 60) > real_p99()                        # the pop the splice must remove
    joined = splice(kept, other, 60, 89, [0, 1])
    assert np.array_equal(joined.positions[:60], kept.positions[:60]) and np.array_equal(joined.positions[90:], kept.positions[90:])
    assert join_jump(joined, 60) <= real_p99() and join_jump(joined, 90) <= real_p99()
    middle = 60 + BLEND_FRAMES + 1                                   # past the blend the new motion is itself
    np.testing.assert_allclose(joined.positions[middle:90 - BLEND_FRAMES - 1], other.positions[middle:90 - BLEND_FRAMES - 1], atol=1e-5)


def test_bad_edits_are_refused_with_their_code(shipped: Generator, base: Clip) -> None:
    def code(call) -> str:
        with pytest.raises(GenerationError) as info:
            call()
        return info.value.code

    one = Clip(base.positions[:, :1], base.rotations[:, :1], base.contacts[:, :1], 30.0, {"text": "x"})
    slow = Clip(base.positions, base.rotations, base.contacts, 25.0, dict(base.meta))
    unnamed = Clip(base.positions, base.rotations, base.contacts, 30.0, {})
    assert code(lambda: regenerate(shipped, base, 50, 200)) == ErrorCode.BAD_REQUEST
    assert code(lambda: regenerate(shipped, base, 30, 20)) == ErrorCode.BAD_REQUEST
    assert code(lambda: regenerate(shipped, base, 10, 20, person="c")) == ErrorCode.BAD_REQUEST
    assert code(lambda: regenerate(shipped, one, 10, 20)) == ErrorCode.BAD_CLIP
    assert code(lambda: regenerate(shipped, slow, 10, 20)) == ErrorCode.BAD_CLIP
    assert code(lambda: regenerate(shipped, unnamed, 10, 20)) == ErrorCode.BAD_PROMPT
    assert code(lambda: extend(shipped, base, 0.2)) == ErrorCode.BAD_SECONDS
    assert code(lambda: extend(shipped, base, 61)) == ErrorCode.BAD_SECONDS
