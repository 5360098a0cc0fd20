"""An imported official model as one folder of our own files, and loading it back for generation.

``intermask models import-official`` converts the authors' release once; afterwards nothing reads their
``.tar`` files or OpenAI's TorchScript archive again. The folder holds:

- ``transformer.pt`` — the converted transformer in our checkpoint format (both official switches on);
- ``vq.pt`` — the official-architecture VQ-VAE (kind ``official-vq``) with the user's feature statistics;
- ``text.pt`` — the CLIP text tower and the official text head (kind ``official-text``), float32;
- ``bpe_simple_vocab_16e6.txt.gz`` — the tokenizer's merge list (MIT, copied at import);
- ``model.json`` — the card: ``kind`` (:data:`~vendor_models.motion.model_store.OFFICIAL_KIND`), source,
  the official sampler defaults and the licence notice.

Every file is read with ``weights_only=True`` through :mod:`vendor_models.models.checkpoint`, so a model
folder cannot run code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import Checkpoint, CheckpointError, assigned, load_checkpoint, save_checkpoint
from ..text.clip_encoder import OfficialClipEncoder
from ..text.clip_tokenizer import ClipTokenizer
from ..text.clip_tower import ClipConditionHead, ClipTextShape, ClipTextTower
from ..transformer.model import InterMTransformer
from ..transformer.persist import load_transformer, transformer_checkpoint
from ..vq.config import config_from_dict
from .codec import OfficialCodec
from .options import OfficialVQOptions
from .vq import OfficialVQVAE

TRANSFORMER_FILE = "transformer.pt"
VQ_FILE = "vq.pt"
TEXT_FILE = "text.pt"
VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
VQ_KIND = "official-vq"
TEXT_KIND = "official-text"
_TOWER, _HEAD = "tower.", "head."


@dataclass
class OfficialModel:
    """What generation needs: the converted transformer, the VQ codec and the CLIP text encoder."""

    transformer: InterMTransformer
    codec: OfficialCodec
    encoder: OfficialClipEncoder


def save_parts(folder: Path, transformer: InterMTransformer, vq: OfficialVQVAE, vq_options: OfficialVQOptions,
               stats: tuple[torch.Tensor, torch.Tensor], tower: ClipTextTower, head: ClipConditionHead,
               meta: dict[str, Any]) -> None:
    """Write the three weight files into ``folder`` (the caller adds the vocabulary and the card)."""
    mean, std = (s.float().numpy() for s in stats)
    save_checkpoint(folder / TRANSFORMER_FILE, transformer_checkpoint(transformer, OfficialClipEncoder.name, meta))
    save_checkpoint(folder / VQ_FILE, Checkpoint(VQ_KIND, dataclasses.asdict(vq_options), vq.state_dict(),
                                                 mean, std, meta))
    text_state = {**{_TOWER + k: v.float() for k, v in tower.state_dict().items()},
                  **{_HEAD + k: v.float() for k, v in head.state_dict().items()}}
    save_checkpoint(folder / TEXT_FILE, Checkpoint(TEXT_KIND, {"tower": dataclasses.asdict(tower.shape)},
                                                   text_state, meta=meta))


def _with_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def load_vq(folder: Path) -> tuple[OfficialVQVAE, tuple[torch.Tensor, torch.Tensor]]:
    """The VQ-VAE (eval, CPU) and its (mean, std) from ``vq.pt``."""
    path = folder / VQ_FILE
    ckpt = load_checkpoint(path, kind=VQ_KIND)
    if ckpt.mean is None or ckpt.std is None:
        raise CheckpointError(f"{path} has no feature statistics (mean/std)")
    try:
        vq = OfficialVQVAE(config_from_dict(OfficialVQOptions, ckpt.config))
        vq.load_state_dict(ckpt.state, strict=True)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} does not match the official VQ-VAE code ({exc})") from exc
    return vq.eval(), (torch.from_numpy(ckpt.mean), torch.from_numpy(ckpt.std))


def load_text(folder: Path) -> tuple[ClipTokenizer, ClipTextTower, ClipConditionHead]:
    """The tokenizer (from the folder's own vocabulary copy), the CLIP text tower and the head (eval, CPU)."""
    path = folder / TEXT_FILE
    ckpt = load_checkpoint(path, kind=TEXT_KIND)
    try:
        shape = config_from_dict(ClipTextShape, ckpt.config["tower"])
        tower = assigned(lambda: ClipTextTower(shape), _with_prefix(ckpt.state, _TOWER))
        head = assigned(ClipConditionHead, _with_prefix(ckpt.state, _HEAD))
        tokenizer = ClipTokenizer(folder / VOCAB_FILE)
    except (KeyError, TypeError, ValueError, RuntimeError, OSError) as exc:
        raise CheckpointError(f"{path} (or {VOCAB_FILE} next to it) does not match the CLIP text code ({exc})") from exc
    return tokenizer, tower.eval().requires_grad_(False), head.eval().requires_grad_(False)


def load_official_model(folder: str | Path, device: torch.device | str = "cpu") -> OfficialModel:
    """Everything of an imported official model, in eval mode on ``device``; errors are :class:`CheckpointError`."""
    folder = Path(folder)
    transformer, encoder_name, _ = load_transformer(folder / TRANSFORMER_FILE, device)
    if encoder_name != OfficialClipEncoder.name:
        raise CheckpointError(f"{folder / TRANSFORMER_FILE} expects the text encoder {encoder_name!r}, "
                              f"not the official CLIP one")
    vq, (mean, std) = load_vq(folder)
    if transformer.config.num_codes != vq.quantizer.codebook.shape[0]:
        raise CheckpointError(f"{folder}: the transformer expects {transformer.config.num_codes} codes but the "
                              f"VQ-VAE has {vq.quantizer.codebook.shape[0]}")
    tokenizer, tower, head = load_text(folder)
    codec = OfficialCodec(vq.to(device), mean, std)
    return OfficialModel(transformer, codec, OfficialClipEncoder(tokenizer, tower.to(device), head.to(device)))
