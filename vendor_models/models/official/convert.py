"""The official ``t2m_transformer`` state dict → our :class:`InterMTransformer`, key for key.

The two networks compute the same function once our two official switches are on (see
``TransformerConfig``); only names differ, and ``nn.MultiheadAttention``'s fused input projection is
split into our query and key/value projections. The conversion is checked both ways: every official
key must find a place and every one of our tensors must be filled, so a release with any extra or
missing layer is refused instead of half-loaded.
"""

from __future__ import annotations

import re

import torch

from ..transformer.config import NUM_GROUPS, TransformerConfig
from ..transformer.model import InterMTransformer, interleaved_frequencies
from .options import CLIP_DIM, OfficialReleaseError, OfficialTransformerOptions, OfficialVQOptions

#: Keys of the text side (``clipTrans``/``clipln`` run on CLIP tokens; ``clip_*`` is CLIP itself).
TEXT_SIDE_PREFIXES = ("clipTrans.", "clipln.", "clip_")
#: The position code's frequencies, stored as a buffer; checked against ours, not loaded.
POSITION_FREQUENCIES = "position_enc.positional_encoding.inv_freq"

_BLOCK = r"Transformer\.blocks\.(\d+)\."
_RENAMES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(a), b) for a, b in (
    (r"token_emb\.weight", "token_emb.weight"),
    (r"input_process\.poseEmbedding\.(weight|bias)", r"token_proj.\1"),
    (r"cond_emb\.(weight|bias)", r"text_head.out.\1"),
    (_BLOCK + r"adaLN_mod_combined\.model\.1\.(weight|bias)", r"blocks.\1.mod_joint.linear.\2"),
    (_BLOCK + r"adaLN_mod_split\.model\.1\.(weight|bias)", r"blocks.\1.mod_split.linear.\2"),
    (_BLOCK + r"ffn_combined\.model\.([03])\.(weight|bias)", r"blocks.\1.ffn_joint.net.\2.\3"),
    (_BLOCK + r"ffn_split\.model\.([03])\.(weight|bias)", r"blocks.\1.ffn_split.net.\2.\3"),
    (r"output_process\.dense\.(weight|bias)", r"head_dense.\1"),
    (r"output_process\.adaLN_mod\.model\.1\.(weight|bias)", r"head_mod.linear.\1"),
    (r"output_process\.poseFinal\.(weight|bias)", r"head_out.\1"),
))
_ATTENTION = re.compile(_BLOCK + r"(self_attn\.attention|spa_temp_attn\.spatial_attention|"
                        r"spa_temp_attn\.temporal_attention|local_inter_attn\.interaction_attention)\."
                        r"(in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)")
_ATTENTION_NAMES = {
    "self_attn.attention": "self_attn",
    "spa_temp_attn.spatial_attention": "spatial",
    "spa_temp_attn.temporal_attention": "temporal",
    "local_inter_attn.interaction_attention": "cross",
}


def transformer_config(trans: OfficialTransformerOptions, vq: OfficialVQOptions) -> TransformerConfig:
    """Our config for the release: sizes from the two ``opt.txt`` files, text head = ``cond_emb`` only."""
    return TransformerConfig(
        num_codes=vq.nb_code, token_dim=vq.code_dim, dim=trans.latent_dim, heads=trans.n_heads,
        layers=trans.n_layers, ff=trans.ff_size, dropout=trans.dropout, text_dim=CLIP_DIM,
        text_width=0, text_layers=0, groups=NUM_GROUPS,
        official_position_code=True, doubled_residual=True,
    )


def split_text_side(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(transformer tensors, text-side tensors) of an official ``t2m_transformer`` dict."""
    text = {k: v for k, v in state.items() if k.startswith(TEXT_SIDE_PREFIXES)}
    return {k: v for k, v in state.items() if k not in text}, text


def _ours(key: str, tensor: torch.Tensor) -> list[tuple[str, torch.Tensor]] | None:
    """Our name(s) and tensor(s) for one official key, or None if it has no place in our network."""
    for pattern, target in _RENAMES:
        if pattern.fullmatch(key):
            return [(pattern.sub(target, key), tensor)]
    match = _ATTENTION.fullmatch(key)
    if match is None:
        return None
    block, layer, param = match.groups()
    base = f"blocks.{block}.{_ATTENTION_NAMES[layer]}"
    kind = "weight" if param.endswith("weight") else "bias"
    if param.startswith("out_proj"):
        return [(f"{base}.out.{kind}", tensor)]
    dim = tensor.shape[0] // 3                      # fused rows: query, key, value
    return [(f"{base}.q.{kind}", tensor[:dim]), (f"{base}.kv.{kind}", tensor[dim:])]


def _check_frequencies(stored: torch.Tensor, dim: int) -> None:
    expected = interleaved_frequencies(dim)
    if stored.shape != expected.shape or not torch.allclose(stored.float(), expected, rtol=1e-6, atol=0.0):
        raise OfficialReleaseError(f"{POSITION_FREQUENCIES} {tuple(stored.shape)} is not the position code of "
                                   f"width {dim} (expected 1/10000^(2i/{2 * expected.numel()}))")


def official_to_ours(state: dict[str, torch.Tensor], config: TransformerConfig) -> dict[str, torch.Tensor]:
    """Rename/split the official transformer tensors (text side removed) into our state-dict keys."""
    mapped: dict[str, torch.Tensor] = {}
    leftovers: list[str] = []
    for key, tensor in state.items():
        if key == POSITION_FREQUENCIES:
            _check_frequencies(tensor, config.dim)
            continue
        parts = _ours(key, tensor)
        if parts is None:
            leftovers.append(key)
            continue
        for name, value in parts:
            mapped[name] = value.float()
    if leftovers:
        raise OfficialReleaseError(f"official transformer key(s) with no counterpart in ours: {sorted(leftovers)}")
    return mapped


def transformer_from_state(trans: OfficialTransformerOptions, vq: OfficialVQOptions,
                           state: dict[str, torch.Tensor]) -> tuple[InterMTransformer, dict[str, torch.Tensor]]:
    """Our transformer (eval mode) loaded from ``t2m_transformer``, plus the text-side tensors it leaves."""
    core, text = split_text_side(state)
    model = InterMTransformer(transformer_config(trans, vq))
    mapped = official_to_ours(core, model.config)
    expected = model.state_dict()
    unfilled = sorted(set(expected) - set(mapped))
    extra = sorted(set(mapped) - set(expected))
    shapes = sorted(f"{k} {tuple(mapped[k].shape)} vs ours {tuple(expected[k].shape)}"
                    for k in set(mapped) & set(expected) if mapped[k].shape != expected[k].shape)
    if unfilled or extra or shapes:
        raise OfficialReleaseError(
            "the official transformer does not fit our network: "
            f"unfilled {unfilled}, unplaced {extra}, shape mismatches {shapes}")
    model.load_state_dict(mapped, strict=True)
    return model.eval(), text
