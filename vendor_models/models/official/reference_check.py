"""Recompute reference outputs of the official code with our classes and report the largest error of each.

A reference dict (``model_reference.pt`` / ``generation_reference.pt`` of the fixture, or one made the
same way from a real release) holds official inputs and outputs. :func:`check_reference` recomputes every
output it recognises whose inputs are present and returns ``name → (max abs error, passed)``; floats pass
within ``atol + rtol·|ref|`` (the fixture's measured fp32 noise is ≤ 1.6e-5), integer ids only when equal.
Sizes, lengths and the block index come from the dict itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import torch

from ..transformer.model import InterMTransformer, position_code_2d
from ..transformer.objective import cosine_schedule, lowest_ranked, top_k_filter
from ..vq.vqvae import TOKEN_JOINTS
from .layout import ids_to_ours, lengths_to_padding, logits_to_official, step_padding
from .vq import OfficialVQVAE

ATOL = 1e-4
RTOL = 1e-5

Reference = Mapping[str, torch.Tensor]
Outputs = Iterator[tuple[str, torch.Tensor]]


def compare(ours: torch.Tensor, ref: torch.Tensor, atol: float = ATOL, rtol: float = RTOL) -> tuple[float, bool]:
    """(max abs error, passed); a shape mismatch is an infinite error."""
    if ours.shape != ref.shape:
        return float("inf"), False
    if not ref.is_floating_point():
        return float((ours.long() - ref.long()).abs().max()) if ref.numel() else 0.0, torch.equal(ours.long(), ref.long())
    error = float((ours.float() - ref.float()).abs().max()) if ref.numel() else 0.0
    return error, bool(torch.allclose(ours.float(), ref.float(), atol=atol, rtol=rtol))


def guided_logits(model: InterMTransformer, ids: torch.Tensor, text: torch.Tensor, pad: torch.Tensor | None,
                  scale: float) -> torch.Tensor:
    """Official layout CFG logits ``u + (c − u)·scale``, the unconditional pass with a zero text vector."""
    cond = logits_to_official(model(ids, text, pad))
    uncond = logits_to_official(model(ids, torch.zeros_like(text), pad))
    return uncond + (cond - uncond) * scale


def _logits(model: InterMTransformer, ref: Reference) -> Outputs:
    groups = model.config.groups
    if {"ids", "padding_mask", "cond"} <= ref.keys():
        ids, pad, cond = ids_to_ours(ref["ids"], groups), step_padding(ref["padding_mask"], groups), ref["cond"]
        yield "logits_cond", logits_to_official(model(ids, cond, pad))
        yield "logits_uncond", logits_to_official(model(ids, torch.zeros_like(cond), pad))
        for name in ref:
            match = re.fullmatch(r"logits_cfg(\d+(?:\.\d+)?)", name)
            if match:
                yield name, guided_logits(model, ids, cond, pad, float(match.group(1)))
    if {"ids_nopad", "cond"} <= ref.keys():
        yield "logits_cond_nopad", logits_to_official(model(ids_to_ours(ref["ids_nopad"], groups), ref["cond"]))
    if "cond" in ref:
        yield "cond_emb_out", model.text_head(ref["cond"])


def _block(model: InterMTransformer, ref: Reference) -> Outputs:
    """One block on the official seq-first ``[2N+1, B, D]`` input with SEP in the middle."""
    if not {"block_in", "block_cond", "block_pad", "block_index"} <= ref.keys():
        return
    x, pad = ref["block_in"], ref["block_pad"]
    n = (x.shape[0] - 1) // 2
    if pad[:, n].any() or not torch.equal(pad[:, :n], pad[:, n + 1:]):
        raise ValueError("block_pad must pad both people alike and never SEP; ours cannot represent it")
    out = model.blocks[int(ref["block_index"])](x.transpose(0, 1), ref["block_cond"], pad[:, :n])
    yield "block_out", out.transpose(0, 1)


def _position_code(model: InterMTransformer, ref: Reference) -> Outputs:
    """The official code added to a zero ``[2·G·L+1, 1, D]`` input: both people get it, SEP none."""
    if "pos_enc_L" not in ref:
        return
    cfg = model.config
    code = position_code_2d(cfg.groups, int(ref["pos_enc_L"]), cfg.dim, cfg.official_position_code)
    yield "pos_enc_zero", torch.cat([code, code.new_zeros(1, cfg.dim), code])[:, None, :]


def _vq(vq: OfficialVQVAE, ref: Reference) -> Outputs:
    for name in ref:
        codes = re.fullmatch(r"vq_codes_(\w+)", name)
        if codes:
            flat = ref[name]
            yield f"vq_decoded_{codes.group(1)}", vq.decode(flat.reshape(flat.shape[0], TOKEN_JOINTS, -1))
        feats = re.fullmatch(r"vq_in_(\w+)", name)
        if feats:
            ids = vq.encode(ref[name])
            yield f"vq_encoded_ids_{feats.group(1)}", ids.reshape(ids.shape[0], -1, 1)   # official [B, N, 1]


def decode_pair(vq: OfficialVQVAE, ids: torch.Tensor) -> torch.Tensor:
    """``[B, 2, 5, L]`` → ``[B, 4L, 2·262]``: each person decoded on its own, with the whole batch, as
    ``infer.py`` does (so with B > 1 only item 0 gets the graph layers' messages)."""
    return torch.cat([vq.decode(ids[:, person]) for person in range(ids.shape[1])], dim=-1)


def _generation(model: InterMTransformer, vq: OfficialVQVAE | None, ref: Reference,
                stats: tuple[torch.Tensor, torch.Tensor] | None) -> Outputs:
    """Per recorded run ``gN``: the CFG logits of every traced step, and the decoded result."""
    groups = model.config.groups
    for name in ref:
        run = re.fullmatch(r"(g\d+)_cond", name)
        if run is None:
            continue
        p, cond = run.group(1), ref[name]
        traces = ref.get(f"{p}_gen_trace_ids_in")
        if traces is not None and f"{p}_m_lens" in ref and "cond_scale" in ref:
            pad = lengths_to_padding(ref[f"{p}_m_lens"], traces.shape[-1] // (2 * groups))
            scale = float(ref["cond_scale"])
            yield f"{p}_gen_trace_logits_cfg", torch.stack(
                [guided_logits(model, ids_to_ours(step, groups), cond, pad, scale) for step in traces])
        ids = ref.get(f"{p}_gen_ids")
        if vq is None or ids is None or bool((ids < 0).any()):      # -1 marks padding: not decodable
            continue
        decoded = decode_pair(vq, ids_to_ours(ids, groups))
        yield f"{p}_gen_decoded_normalised", decoded
        if stats is not None:
            mean, std = stats
            yield f"{p}_gen_motion_denormalised", decoded.reshape(*decoded.shape[:2], 2, -1) * std + mean


def check_reference(transformer: InterMTransformer, vq: OfficialVQVAE | None, reference: Reference,
                    stats: tuple[torch.Tensor, torch.Tensor] | None = None,
                    atol: float = ATOL, rtol: float = RTOL) -> dict[str, tuple[float, bool]]:
    """``name → (max abs error, passed)`` for every reference output we can recompute.

    ``stats`` = (mean, std) of the 262-D features, for de-normalised outputs; ``vq`` None skips the VQ.
    Both models must be in eval mode (dropout off), as the references were made.
    """
    if transformer.training or (vq is not None and vq.training):
        raise ValueError("put the models in eval mode before checking them against references")
    with torch.no_grad():
        outputs = [*_logits(transformer, reference), *_block(transformer, reference),
                   *_position_code(transformer, reference), *_generation(transformer, vq, reference, stats)]
        if vq is not None:
            outputs += list(_vq(vq, reference))
    return {name: compare(ours, reference[name], atol, rtol) for name, ours in outputs if name in reference}


#: score of a token kept from an earlier step (never re-masked), as the official ``generate`` sets it
_KEPT = 1e5


def replay_generation(model: InterMTransformer, cond: torch.Tensor, lengths: torch.Tensor, steps_l: int, seed: int,
                      timesteps: int, scale: float, keep_ratio: float) -> torch.Tensor:
    """The official ``generate()`` step logic with its random draws: ids ``[B, 2·G·L]``, padding −1.

    Our sampler draws Gumbel noise per variation; the official one draws ``torch.multinomial`` from the
    global generator right after ``manual_seed(seed)``, once per step. Replaying that (in a forked RNG
    state) shows whether a whole run gives the same ids, which also needs the same multinomial kernel.
    """
    groups, mask_id = model.config.groups, model.config.mask_id
    batch = cond.shape[0]
    pad = lengths_to_padding(lengths, steps_l)
    flat_pad = pad[:, None, :].expand(batch, 2 * groups, steps_l).reshape(batch, -1)
    ids = torch.where(flat_pad, model.config.pad_id, mask_id)
    scores = torch.where(flat_pad, _KEPT, 0.0)
    tokens = lengths * 2 * groups
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for t in torch.linspace(0, 1, timesteps):
            is_mask = lowest_ranked(scores, (cosine_schedule(t) * tokens).round().clamp(min=1))
            ids = ids.masked_fill(is_mask, mask_id)
            logits = guided_logits(model, ids_to_ours(ids, groups), cond, pad, scale).permute(0, 2, 1)
            probs = top_k_filter(logits, keep_ratio).softmax(-1)
            probs = probs / probs.sum(-1, keepdim=True)                 # as Categorical normalises
            picked = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, replacement=True).view(batch, -1)
            ids = torch.where(is_mask, picked, ids)
            confidence = logits.softmax(-1).gather(-1, picked.unsqueeze(-1)).squeeze(-1)
            scores = confidence.masked_fill(~is_mask, _KEPT)
    return ids.masked_fill(flat_pad, -1)


def replay_generations(model: InterMTransformer, reference: Reference) -> dict[str, tuple[float, bool]]:
    """``gN_gen_ids → (differing ids, equal)`` for every recorded run; informative, not a pass/fail test."""
    needed = ("timesteps", "cond_scale", "topk_filter_thres")
    results: dict[str, tuple[float, bool]] = {}
    if not all(key in reference for key in needed):
        return results
    for name in reference:
        run = re.fullmatch(r"(g\d+)_cond", name)
        if run is None or not {f"{run.group(1)}_{k}" for k in ("m_lens", "seed", "gen_ids")} <= reference.keys():
            continue
        p = run.group(1)
        target = reference[f"{p}_gen_ids"]
        with torch.no_grad():
            ids = replay_generation(model, reference[name], reference[f"{p}_m_lens"],
                                    target.shape[1] // (2 * model.config.groups), int(reference[f"{p}_seed"]),
                                    int(reference["timesteps"]), float(reference["cond_scale"]),
                                    float(reference["topk_filter_thres"]))
        results[f"{p}_gen_ids"] = (float((ids != target).sum()), torch.equal(ids, target))
    return results
