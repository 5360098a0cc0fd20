"""A model folder with the official architecture at full paper size and random weights, for benchmarks.

``intermask bench --official-random`` measures what the real release will cost (speed, memory) without the
download: the transformer at 384 wide × 6 layers × 6 heads, ff 1024 over a 1024-code VQ-VAE 512 wide, and
CLIP ViT-L/14's text tower (768 wide, 12 layers, 49,408 ids) with the official text head. The numbers are
random, so the motion is noise; the work per step is the real one. Written through the same
:func:`~.model_folder.save_parts` as an import, so the worker loads it the way it loads a real import.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from ...motion import model_store
from ...motion.features import FEATURE_DIM
from ..text.clip_tokenizer import CONTEXT_LENGTH, EOT_ID
from ..text.clip_tower import ClipConditionHead, ClipTextShape, ClipTextTower
from ..transformer.model import InterMTransformer
from .convert import transformer_config
from .importer import OFFICIAL_SAMPLER, VOCAB_SOURCE
from .model_folder import VOCAB_FILE, save_parts
from .options import OfficialTransformerOptions, OfficialVQOptions
from .vq import OfficialVQVAE

PAPER_TRANSFORMER = OfficialTransformerOptions(vq_name="vq_default", latent_dim=384, n_heads=6, n_layers=6,
                                               ff_size=1024, dropout=0.2)
PAPER_VQ = OfficialVQOptions(nb_code=1024, code_dim=512, width=512, depth=2, dilation_growth_rate=3)
CLIP_L_TEXT = ClipTextShape(vocab_size=EOT_ID + 1, context_length=CONTEXT_LENGTH, width=768, layers=12)


def _randomise(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Every parameter and buffer N(0, 0.02²) (LayerNorm weights around 1), so no layer is an identity."""
    with torch.no_grad():
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            if tensor.is_floating_point() and not name.endswith("adjacency"):
                tensor.normal_(0.0, 0.02, generator=generator)
                if tensor.ndim == 1 and name.endswith("weight"):
                    tensor.add_(1.0)


def write_random_official(folder: Path, seed: int = 0) -> Path:
    """Write the full-size random model into the new folder ``folder``; returns it."""
    generator = torch.Generator().manual_seed(seed)
    transformer = InterMTransformer(transformer_config(PAPER_TRANSFORMER, PAPER_VQ)).eval()
    vq = OfficialVQVAE(PAPER_VQ).eval()
    tower, head = ClipTextTower(CLIP_L_TEXT).eval(), ClipConditionHead().eval()
    for module in (transformer, vq, tower, head):
        _randomise(module, generator)
    stats = (torch.zeros(FEATURE_DIM), torch.ones(FEATURE_DIM))
    folder.mkdir(parents=True)
    save_parts(folder, transformer, vq, PAPER_VQ, stats, tower, head, {"source": "random weights (benchmark)"})
    shutil.copyfile(VOCAB_SOURCE, folder / VOCAB_FILE)
    card = {"name": "official-random", "kind": model_store.OFFICIAL_KIND, "non_commercial": False,
            "licence": "Random weights with the official architecture, for benchmarks only.",
            "sampler": dict(OFFICIAL_SAMPLER), "seed": seed}
    (folder / model_store.CARD_NAME).write_text(json.dumps(card, indent=1), encoding="utf-8")
    return folder
