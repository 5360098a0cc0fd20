"""The official InterMask text encoder behind the generator's ``encode(list[str]) -> [N, 768]`` interface.

Prompt → OpenAI CLIP token ids (:mod:`clip_tokenizer`) → CLIP text tower up to ``ln_final`` → InterMask's
text head (``clipTrans``, ``clipln``, the EOT row) → the 768-D vector the official ``cond_emb`` reads. The
generator then treats it like any sentence vector (a zero vector is the unconditional input). Vectors are
cached per prompt: a CLIP-L pass costs more than a sampling step, and animators re-run the same prompt
with other seeds.
"""

from __future__ import annotations

import torch

from .clip_tokenizer import ClipTokenizer
from .clip_tower import CONDITION_WIDTH, ClipConditionHead, ClipTextTower
from .sentence_encoder import CachedEncoder


class OfficialClipEncoder(CachedEncoder):
    """Tokenizer + CLIP text tower + official head; all float32, on the tower's device."""

    name = "official-clip"
    dim = CONDITION_WIDTH

    def __init__(self, tokenizer: ClipTokenizer, tower: ClipTextTower, head: ClipConditionHead,
                 cache_size: int = 64) -> None:
        super().__init__(cache_size)
        self.tokenizer, self.tower, self.head = tokenizer, tower.eval(), head.eval()

    @torch.inference_mode()
    def _embed(self, texts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(texts).to(self.tower.positional_embedding.device)
        return self.head(self.tower(ids), ids).float()
