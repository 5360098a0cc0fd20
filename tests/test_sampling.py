"""Masked sampling: schedule, guidance batching, determinism, reaction, progress and cancel."""

from __future__ import annotations

import math

import pytest
import torch

from vendor_models.generation.errors import Cancelled
from vendor_models.generation.sampling import sample_tokens, top_k_filter
from vendor_models.models.transformer.config import TransformerConfig
from vendor_models.models.transformer.model import InterMTransformer
from vendor_models.motion.protocol import ErrorCode

torch.set_num_threads(1)
CFG = TransformerConfig(num_codes=40, token_dim=16, dim=16, heads=2, layers=1, ff=32, dropout=0.0, text_dim=8)


class Recorder(InterMTransformer):
    """The real network, also recording what each forward pass was given."""

    def __init__(self) -> None:
        super().__init__(CFG)
        torch.manual_seed(0)
        for name, p in self.named_parameters():
            if ".mod_" in name or "head_mod" in name:
                p.data.normal_(0, 0.3)
        self.calls: list[tuple[int, int, torch.Tensor]] = []
        self.eval()

    def forward(self, ids: torch.Tensor, text: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append((ids.shape[0], int((ids == CFG.mask_id).sum()), text.clone()))
        return super().forward(ids, text, pad)


@pytest.fixture()
def model() -> Recorder:
    return Recorder()


def test_cosine_schedule_one_batched_cfg_pass_per_step(model: Recorder) -> None:
    text = torch.randn(3, 8)
    ids = sample_tokens(model, text, 6, seeds=[1, 2, 3], steps=8, guidance=2.0)
    assert ids.shape == (3, 2, 5, 6)
    assert ((ids >= 0) & (ids < CFG.num_codes)).all()               # no MASK left, only codes
    assert len(model.calls) == 8                                     # ONE forward per step …
    assert all(batch == 6 for batch, _, _ in model.calls)            # … holding cond + uncond
    assert torch.equal(model.calls[0][2][3:], torch.zeros(3, 8))     # uncond = zero text
    masked = [m // 2 for _, m, _ in model.calls]                     # mask counts of the cond half
    n = 3 * 2 * 5 * 6
    expected = [3 * max(1, round(math.cos(math.pi / 2 * t) * 60)) for t in torch.linspace(0, 1, 8).tolist()]
    assert masked == expected and masked[0] == n


def test_guidance_one_skips_the_unconditional_pass(model: Recorder) -> None:
    sample_tokens(model, torch.randn(2, 8), 4, seeds=[0, 1], steps=3, guidance=1.0)
    assert [batch for batch, _, _ in model.calls] == [2, 2, 2]


def test_seeds_are_deterministic_and_variations_differ(model: Recorder) -> None:
    text = torch.randn(1, 8).expand(2, -1)
    a = sample_tokens(model, text, 5, seeds=[7, 8], steps=5)
    b = sample_tokens(model, text, 5, seeds=[7, 8], steps=5)
    assert torch.equal(a, b)
    assert not torch.equal(a[0], a[1])
    alone = sample_tokens(model, text[:1], 5, seeds=[8], steps=5)   # variation 1 of seed 7 = seed 8 alone
    assert torch.equal(alone[0], a[1])


def test_reaction_keeps_partner_tokens_and_decodes_the_other(model: Recorder) -> None:
    partner = torch.randint(0, CFG.num_codes, (5, 6), generator=torch.Generator().manual_seed(3))
    ids = sample_tokens(model, torch.randn(2, 8), 6, seeds=[0, 1], steps=5, partner=partner)
    assert torch.equal(ids[:, 0], partner.expand(2, 5, 6))
    assert ((ids[:, 1] >= 0) & (ids[:, 1] < CFG.num_codes)).all()
    assert model.calls[0][1] // 2 == 2 * 30                           # step 1: only person 2 masked


def test_a_known_map_keeps_every_token_that_is_not_mask(model: Recorder) -> None:
    known = torch.randint(0, CFG.num_codes, (2, 5, 8), generator=torch.Generator().manual_seed(4))
    known[0, :, 2:5] = CFG.mask_id                                  # a stretch of person 1
    known[1, :, 6:] = CFG.mask_id                                   # the end of person 2
    ids = sample_tokens(model, torch.randn(2, 8), 8, seeds=[0, 1], steps=4, known=known)
    free = known == CFG.mask_id
    assert torch.equal(ids[:, ~free], known[~free].expand(2, -1))
    assert ((ids[:, free] >= 0) & (ids[:, free] < CFG.num_codes)).all()
    assert model.calls[0][1] // 2 == 2 * int(free.sum())            # step 1: exactly the MASK positions
    per_variation = known.expand(2, -1, -1, -1).clone()
    per_variation[1, 1, :, 6:] = 3                                  # variation 1 has nothing left of person 2 to fill
    ids = sample_tokens(model, torch.randn(2, 8), 8, seeds=[0, 1], steps=4, known=per_variation)
    assert torch.equal(ids[1, 1], per_variation[1, 1]) and not torch.equal(ids[0, 1], per_variation[1, 1])
    with pytest.raises(ValueError, match="known tokens"):
        sample_tokens(model, torch.randn(1, 8), 7, seeds=[0], steps=2, known=known)


def test_progress_every_step_and_cancel_between_steps(model: Recorder) -> None:
    seen: list[tuple[int, int]] = []
    sample_tokens(model, torch.randn(1, 8), 3, seeds=[0], steps=4, progress=lambda i, n: seen.append((i, n)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) == 3

    with pytest.raises(Cancelled) as info:
        sample_tokens(model, torch.randn(1, 8), 3, seeds=[0], steps=10, should_stop=stop)
    assert info.value.code == ErrorCode.CANCELLED and len(asked) == 3


def test_top_k_keeps_a_tenth_of_the_codes() -> None:
    logits = torch.randn(4, 1024)
    kept = torch.isfinite(top_k_filter(logits, 0.9)).sum(-1)
    assert kept.tolist() == [103] * 4
