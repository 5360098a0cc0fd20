"""Inter-M Transformer: sizes of the presets, structure of the attention, and the training objective."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from vendor_models.models.transformer.config import ObjectiveConfig, TransformerConfig, preset
from vendor_models.models.transformer.model import InterMTransformer, position_code_2d
from vendor_models.models.transformer.objective import choose_mask, masked_token_loss, valid_mask

torch.set_num_threads(1)
TINY = TransformerConfig(num_codes=24, token_dim=16, dim=16, heads=2, layers=2, ff=32, dropout=0.0, text_dim=8)


def _live(model: InterMTransformer) -> InterMTransformer:
    """AdaLN starts at zero (every block the identity); give it weights so mixing can be observed."""
    gen = torch.Generator().manual_seed(0)
    for name, p in model.named_parameters():
        if ".mod_" in name or "head_mod" in name:
            p.data = torch.randn(p.shape, generator=gen) * 0.3
    return model.eval()


def test_preset_parameter_counts() -> None:
    """Counted, not assumed. paper: 6 × 384 blocks ≈ 41.39 M as InterMask; its text stack differs (a
    residual MLP on the pooled sentence vector instead of a transformer over CLIP tokens), so 49.84 M
    total vs InterMask's ≈ 54.27 M."""
    small = InterMTransformer(preset("small").model)
    paper = InterMTransformer(preset("paper").model)
    assert small.num_parameters() == 1_699_840
    assert paper.num_parameters() == 49_840_768
    blocks = sum(p.numel() for p in paper.blocks.parameters())
    assert blocks == pytest.approx(41.39e6, rel=0.002)
    assert preset("paper").model.num_codes == 1024 and preset("small").model.num_codes == 512


def test_special_tokens_follow_the_codes() -> None:
    assert (TINY.mask_id, TINY.pad_id, TINY.sep_id, TINY.vocab) == (24, 25, 26, 27)


def test_forward_shape_and_people_interact() -> None:
    model = _live(InterMTransformer(TINY))
    ids = torch.randint(0, 24, (2, 2, 5, 6), generator=torch.Generator().manual_seed(1))
    text = torch.randn(2, 8)
    out = model(ids, text)
    assert out.shape == (2, 2, 5, 6, 24)
    changed = ids.clone()
    changed[:, 1] = (changed[:, 1] + 1) % 24        # only person 2 changes
    out2 = model(changed, text)
    assert not torch.allclose(out[:, 0], out2[:, 0])  # person 1 sees person 2 (self- and cross-attention)
    assert not torch.allclose(model(ids, torch.zeros_like(text)), out)  # text enters through AdaLN


def test_zero_init_adaln_makes_blocks_identity() -> None:
    model = InterMTransformer(TINY).eval()
    ids = torch.randint(0, 24, (1, 2, 5, 4))
    x = model.token_proj(model.token_emb(ids.reshape(1, 2, 20)))
    seq = torch.cat([x[:, 0], x[:, 1, :1], x[:, 1]], dim=1)
    assert torch.equal(model.blocks[0](seq, torch.randn(1, 16), None), seq)


def test_padding_does_not_leak_into_valid_positions() -> None:
    model = _live(InterMTransformer(TINY))
    ids = torch.randint(0, 24, (1, 2, 5, 7), generator=torch.Generator().manual_seed(2))
    pad = torch.zeros(1, 7, dtype=torch.bool)
    pad[:, 4:] = True
    other = ids.clone()
    other[..., 4:] = TINY.pad_id
    text = torch.randn(1, 8)
    a = model(ids, text, pad)[..., :4, :]
    b = model(other, text, pad)[..., :4, :]
    torch.testing.assert_close(a, b)


def test_position_code_distinguishes_group_and_time() -> None:
    code = position_code_2d(5, 10, 16).view(5, 10, 16)
    assert not torch.allclose(code[0, 3], code[1, 3]) and not torch.allclose(code[2, 0], code[2, 1])
    torch.testing.assert_close(code[1, :, :8], code[1, :1, :8].expand(10, 8))   # first half: group only


def test_interaction_masking_masks_one_whole_person_per_half() -> None:
    valid = valid_mask(torch.tensor([6, 6, 4, 6]), 6, 5)
    mask = choose_mask(valid, ObjectiveConfig(interaction_mask_prob=1.0), torch.Generator().manual_seed(3))
    whole = (mask == valid).flatten(2).all(-1)          # [B, 2]: this person is masked wherever valid
    untouched = (~mask).flatten(2).all(-1)
    assert ((whole & untouched.flip(1)).sum(1) == 1).all()
    assert whole[0].tolist() != whole[3].tolist()         # the two halves mask different people
    assert not (mask & ~valid).any()


def test_cosine_masking_stays_inside_lengths() -> None:
    valid = valid_mask(torch.tensor([3, 6]), 6, 5)
    mask = choose_mask(valid, ObjectiveConfig(interaction_mask_prob=0.0), torch.Generator().manual_seed(4))
    assert mask.flatten(1).sum(1).min() >= 1 and not (mask & ~valid).any()


def test_objective_trains_down_on_a_fixed_batch() -> None:
    """Loss is finite, step-unroll adds its own CE, and a few AdamW steps fit a fixed batch."""
    torch.manual_seed(0)
    model = InterMTransformer(TINY)
    ids = torch.randint(0, 24, (8, 2, 5, 6))
    lengths = torch.tensor([6, 6, 5, 4, 6, 3, 6, 6])
    text = torch.randn(8, 8)
    cfg = ObjectiveConfig(step_unroll=1.0, text_drop_prob=0.0)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-2)

    def held_out_ce() -> float:
        with torch.no_grad():
            return masked_token_loss(model, ids, lengths, text, cfg, torch.Generator().manual_seed(99)).ce

    before = held_out_ce()
    for step in range(80):
        out = masked_token_loss(model, ids, lengths, text, cfg, torch.Generator().manual_seed(step))
        optim.zero_grad()
        out.loss.backward()
        optim.step()
        assert torch.isfinite(out.loss) and out.unroll_ce > 0
    assert held_out_ce() < 0.75 * before          # chance level is log(24) ≈ 3.18


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ValueError, match="paper"):
        preset("huge")
    with pytest.raises(ValueError, match="divisible"):
        InterMTransformer(replace(TINY, heads=3))
