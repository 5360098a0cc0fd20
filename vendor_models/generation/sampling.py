"""Iterative confidence-based unmasking of the two people's token maps (MaskGIT / InterMask inference).

Start with every free token masked; at each of ``steps`` steps predict all masked tokens, keep the
sampled ones, then re-mask the least confident of the tokens sampled in this run so that a fraction
``cos(π/2 · t)`` stays masked (tokens kept once are never re-masked). Classifier-free guidance runs the
conditional and unconditional (zero text) inputs in ONE batched forward pass. Sampling uses per-variation
``torch.Generator`` Gumbel noise, so variation ``v`` of seed ``s`` is the same whatever the batch.
Kept tokens: a ``known`` token map fixes every position that is not MASK, and only the MASK positions
are filled in — a reaction (person 1 given), a regenerated stretch, the overlap of a long take's windows.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..models.transformer.model import InterMTransformer
from ..models.transformer.objective import cosine_schedule, lowest_ranked, top_k_filter
from ..motion.protocol import DEFAULT_GUIDANCE, DEFAULT_STEPS
from .errors import Cancelled

ProgressFn = Callable[[int, int], None]
StopFn = Callable[[], bool]

#: score of a position that must never be (re-)masked
_KEPT = 1e5
#: InterMask's ``topkr``: cut 90 % of the codebook's logits, sample among the rest
DEFAULT_TOP_K = 0.9


def gumbel_noise(shape: tuple[int, ...], generators: list[torch.Generator], device: torch.device) -> torch.Tensor:
    """Gumbel noise ``[V, *shape]`` with row ``v`` drawn from ``generators[v]`` (CPU, then moved)."""
    rows = [torch.rand(shape, generator=g).clamp_(1e-9, 1 - 1e-9) for g in generators]
    return (-torch.log(-torch.log(torch.stack(rows)))).to(device)


@torch.inference_mode()
def sample_tokens(model: InterMTransformer, text: torch.Tensor, steps_l: int, *, seeds: list[int],
                  steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE, top_k: float = DEFAULT_TOP_K,
                  partner: torch.Tensor | None = None, known: torch.Tensor | None = None,
                  progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> torch.Tensor:
    """Token maps ``[V, 2, G, steps_l]`` for ``V = len(seeds)`` variations.

    ``text [V, Dt]`` is the condition per variation. ``known [2, G, steps_l]`` or ``[V, 2, G, steps_l]``,
    when given, holds the tokens to keep, MASK (``config.mask_id``) where the model fills in; ``partner
    [G, steps_l]`` (codes) is the reaction's short form of it: person 1 kept, person 2 all MASK.
    ``progress(step, steps)`` is called after each step; ``should_stop()`` before
    each, raising :class:`Cancelled` when it returns True.
    """
    cfg = model.config
    device = text.device
    v = len(seeds)
    g = cfg.groups
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    ids = torch.full((v, 2, g, steps_l), cfg.mask_id, dtype=torch.long, device=device)
    if partner is not None:
        ids[:, 0] = partner.to(device)
    if known is not None:
        if known.shape[-3:] != ids.shape[-3:] or known.ndim not in (3, 4):
            raise ValueError(f"known tokens must be [2, {g}, {steps_l}] or [V, 2, {g}, {steps_l}], got {tuple(known.shape)}")
        ids[:] = known.to(device)
    free = ids == cfg.mask_id
    flat_free = free.reshape(v, -1)
    n_free = flat_free.sum(1)
    scores = torch.zeros(flat_free.shape, device=device).masked_fill(~flat_free, _KEPT)
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    uncond = torch.zeros_like(text)
    for i, t in enumerate(torch.linspace(0, 1, steps).tolist()):
        if should_stop is not None and should_stop():
            raise Cancelled()
        count = (cosine_schedule(torch.tensor(t)) * n_free).round().clamp(min=1)
        is_mask = lowest_ranked(scores, count) & flat_free
        flat_ids = ids.reshape(v, -1).masked_fill(is_mask, cfg.mask_id)
        ids = flat_ids.view_as(ids)
        logits = _guided_logits(model, ids, text, uncond, guidance).reshape(v, flat_ids.shape[1], -1)
        filtered = top_k_filter(logits, top_k).log_softmax(-1)
        picked = (filtered + gumbel_noise(tuple(filtered.shape[1:]), generators, device)).argmax(-1)
        flat_ids = torch.where(is_mask, picked, flat_ids)
        ids = flat_ids.view_as(ids)
        confidence = logits.softmax(-1).gather(-1, picked.unsqueeze(-1)).squeeze(-1)
        scores = confidence.masked_fill(~is_mask, _KEPT)
        if progress is not None:
            progress(i + 1, steps)
    return ids


def _guided_logits(model: InterMTransformer, ids: torch.Tensor, text: torch.Tensor, uncond: torch.Tensor,
                   guidance: float) -> torch.Tensor:
    if guidance == 1.0:
        return model(ids, text)
    both = model(torch.cat([ids, ids]), torch.cat([text, uncond]))
    cond, free = both.chunk(2)
    return free + (cond - free) * guidance
