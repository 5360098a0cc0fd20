"""Takes longer than one 10-second window, on the shipped model: windows that overlap and cover the take, a
prompt timeline, no seam bigger than real motion's frame-to-frame change, seeds, progress and cancel,
and reactions to long partners."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
from edit_fixtures import real_p99

from vendor_models.data.build import ensure_cache
from vendor_models.evaluation.seams import join_jump
from vendor_models.generation.errors import Cancelled, GenerationError
from vendor_models.generation.generator import DEFAULT_CHECKPOINT, Generator
from vendor_models.generation.long_take import take, take_reaction, window_prompts
from vendor_models.generation.windows import (
    OVERLAP_STEPS,
    WINDOW_STEPS,
    Window,
    plan_windows,
    window_seed,
    window_steps,
)
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.protocol import ErrorCode, SamplerSettings, Segment

torch.set_num_threads(1)
pytestmark = pytest.mark.timeout(300)
SALSA = "two people dance salsa holding hands"
SPIN = "the follow spins under the lead's arm, then they let go"


@pytest.fixture(scope="module")
def shipped() -> Generator:
    return Generator.load(DEFAULT_CHECKPOINT, "cpu")


def test_windows_cover_the_take_and_keep_the_overlap() -> None:
    windows = plan_windows(np.ones(225, dtype=bool))                 # 30 s
    assert windows == [Window(0, 75), Window(60, 135), Window(120, 195), Window(180, 225)]
    assert all(b.start == a.end - OVERLAP_STEPS for a, b in pairwise(windows))
    free = np.zeros(200, dtype=bool)
    free[100:110] = True                                              # a short stretch: one window around it
    (only,) = plan_windows(free, lead=(WINDOW_STEPS - 10) // 2)
    assert only.end - only.start == WINDOW_STEPS and only.start == 100 - 32
    free[:] = False
    free[190:] = True                                                 # near the end: as much context as fits
    assert plan_windows(free) == [Window(125, 200)]
    assert plan_windows(np.zeros(10, dtype=bool)) == []


def test_later_windows_take_steps_in_proportion_to_what_they_fill() -> None:
    take_columns = np.ones(225, dtype=bool)                          # new columns per window: 75, 60, 60, 30
    assert window_steps(take_columns, plan_windows(take_columns), 10) == [10, 8, 8, 4]
    assert window_steps(take_columns, plan_windows(take_columns), 1) == [1, 1, 1, 1]
    stretch = np.zeros(300, dtype=bool)
    stretch[100:110] = True                                           # one window: the sampler's own steps
    assert window_steps(stretch, plan_windows(stretch), 10) == [10]


def test_each_window_takes_the_segment_at_the_middle_of_what_it_fills() -> None:
    windows = plan_windows(np.ones(225, dtype=bool))
    texts = [("a", 12.0), ("b", 8.0), ("c", 10.0)]                     # changes at 12 s and 20 s
    # new columns 0-75 (middle 5 s), 75-135 (14 s), 135-195 (22 s), 195-225 (28 s)
    assert window_prompts(texts, windows) == ["a", "b", "c", "c"]
    assert window_prompts([("only", 3.0)], windows) == ["only"] * 4   # the last one holds to the end
    assert window_seed(7, 0) == 7 and len({window_seed(7, k) for k in range(1, 6)} | {window_seed(8, 1)}) == 6


def test_a_thirty_second_take_has_no_seam_bigger_than_real_motion(shipped: Generator) -> None:
    seen: list[tuple[int, int, str]] = []
    out = take(shipped, [Segment(SALSA, 15), Segment(SPIN, 15)], sampler=SamplerSettings(seed=1, steps=3),
               progress=lambda i, n, stage: seen.append((i, n, stage)))
    clip = out.clips[0]
    assert clip.num_frames == 900 and clip.meta["windows"] == 4 and clip.meta["mode"] == "take"
    assert clip.meta["segments"] == [[SALSA, 15.0], [SPIN, 15.0]] and clip.meta["prompt"] == f"{SALSA} → {SPIN}"
    sampling = [(i, n) for i, n, stage in seen if stage == "sampling"]
    assert sampling == [(i, 11) for i in range(1, 12)] and seen[-1] == (1, 1, "decoding")   # 3 + 3 + 3 + 2 steps
    for start in (75, 135, 195):                                       # where each window's new tokens begin
        assert join_jump(clip, start * 4, reach=4) <= real_p99(), start
    assert np.isfinite(clip.positions).all() and 1.2 < float(np.median(clip.positions[..., 15, 1])) < 2.0


def test_a_take_is_one_decode_and_the_same_seed_gives_the_same_take(shipped: Generator,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[tuple[int, ...]] = []
    original = shipped.vq.decode

    def recorded(codes: torch.Tensor) -> torch.Tensor:
        decoded.append(tuple(codes.shape))
        return original(codes)

    monkeypatch.setattr(shipped.vq, "decode", recorded)
    both = take(shipped, [Segment(SALSA, 12)], sampler=SamplerSettings(seed=4, steps=2, variations=2))
    again = take(shipped, [Segment(SALSA, 12)], sampler=SamplerSettings(seed=4, steps=2))
    other = take(shipped, [Segment(SALSA, 12)], sampler=SamplerSettings(seed=5, steps=2))
    assert decoded == [(4, 5, 90), (2, 5, 90), (2, 5, 90)]            # every person's whole 12 s in one call
    assert np.array_equal(both.clips[0].positions, again.clips[0].positions)
    assert np.array_equal(both.clips[1].positions, other.clips[0].positions)   # variation 1 of seed 4 = seed 5
    assert not np.allclose(both.clips[0].positions, other.clips[0].positions)


def test_cancel_stops_a_take_between_steps(shipped: Generator) -> None:
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 4                                          # inside the second window

    with pytest.raises(Cancelled):
        take(shipped, [Segment(SALSA, 20)], sampler=SamplerSettings(steps=3), should_stop=stop)
    assert len(asked) == 5


def test_bad_takes_are_refused_with_their_code(shipped: Generator) -> None:
    def code(call) -> str:
        with pytest.raises(GenerationError) as info:
            call()
        return info.value.code

    assert code(lambda: take(shipped, [])) == ErrorCode.BAD_PROMPT
    assert code(lambda: take(shipped, [Segment(SALSA, 40), Segment(SPIN, 30)])) == ErrorCode.BAD_SECONDS
    assert code(lambda: take(shipped, [Segment(SALSA, 12), Segment(SPIN, 0)])) == ErrorCode.BAD_SECONDS
    assert code(lambda: take(shipped, [Segment(SALSA, 12), Segment("  ", 5)])) == ErrorCode.BAD_PROMPT


def test_a_long_reaction_keeps_the_partner_and_joins_its_windows(shipped: Generator) -> None:
    real = Clip.load(ensure_cache() / "salsa_13.npz")
    partner = Clip(real.positions[:421, :1], real.rotations[:421, :1], real.contacts[:421, :1], 30.0, {"name": "lead"})
    clip = take_reaction(shipped, partner, [Segment("the follow dances with the lead", 14)],
                         sampler=SamplerSettings(seed=2, steps=3)).clips[0]
    assert clip.num_frames == 420 and clip.meta["windows"] == 2 and clip.meta["partner"] == {"name": "lead"}
    assert np.array_equal(clip.positions[:, 0], partner.positions[:420, 0])
    assert join_jump(clip, 75 * 4, people=[1], reach=4) <= real_p99()
    gap = np.linalg.norm((clip.positions[:, 1, 0] - clip.positions[:, 0, 0])[:, [0, 2]], axis=-1)
    assert float(np.median(gap[300:])) < 3.0                            # the second window stays with the partner
