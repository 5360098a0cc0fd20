"""InterCLIP-style evaluator: a motion encoder and a text head mapped into one embedding space (torch).

Why our own: InterGen's published InterCLIP was trained on InterHuman with CLIP text features; we have
neither, so FID / R-precision / MM-Dist are measured in an embedding space trained contrastively on OUR
train split, as InterGen did on theirs (reference §3). The structure follows InterCLIP:

- motion: de-normalised 262-D features of both people, foot contacts dropped → 2 × 258 = 516 per frame
  (reference §1.5), z-scored with stats of the train windows (stored in the checkpoint), optional temporal
  average pooling, Linear → width, a learned query token in front, sinusoidal positions, a Transformer
  encoder with padding masked by length, LayerNorm, the query token's output → Linear → latent;
- text: the frozen offline sentence embedding (MiniLM, 384-D, instead of InterCLIP's frozen CLIP tokens)
  → a small trainable MLP head → latent;
- both L2-normalised and multiplied by one learned ``latent_scale``; symmetric InfoNCE with logits
  ``motion · textᵀ`` (= latent_scale² · cosine), as InterGen's ``compute_clip_losses``.

The ``small`` preset fits our data and a CPU; ``interhuman`` has InterCLIP's motion-encoder sizes (1024 wide,
8 layers, 8 heads, FF 2048, latent 512, no pooling) for users with that dataset. Same code path for both.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..models.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from ..motion.features import CONTACT, FEATURE_DIM

MOTION_DIM = 2 * (FEATURE_DIM - 4)
EVALUATOR_DIR = Path(__file__).resolve().parents[1] / "checkpoints" / "evaluator"
EVALUATOR_FILE = "evaluator.pt"


class EvaluatorError(RuntimeError):
    """A missing or unreadable evaluator checkpoint, or inputs it cannot embed; the message says which."""


@dataclass(frozen=True)
class EvaluatorConfig:
    """Sizes of the evaluator; see :data:`PRESETS`."""

    name: str = "small"
    width: int = 128
    layers: int = 2
    heads: int = 4
    ff: int = 256
    dropout: float = 0.1
    latent: int = 64
    text_dim: int = 384
    text_hidden: int = 256
    pool: int = 4
    max_frames: int = 300


PRESETS: dict[str, EvaluatorConfig] = {
    "small": EvaluatorConfig(),
    "interhuman": EvaluatorConfig(name="interhuman", width=1024, layers=8, heads=8, ff=2048, latent=512,
                                  text_hidden=768, pool=1),
}


def motion_input(feats: np.ndarray) -> np.ndarray:
    """Pair features [B, T, 2, 262] → the evaluator's input [B, T, 516] (contacts dropped, people concatenated)."""
    feats = np.asarray(feats, dtype=np.float32)
    if feats.ndim != 4 or feats.shape[2:] != (2, FEATURE_DIM):
        raise EvaluatorError(f"the evaluator needs pair features [B, T, 2, {FEATURE_DIM}], got {feats.shape}")
    keep = np.ones(FEATURE_DIM, dtype=bool)
    keep[CONTACT] = False
    return feats[..., keep].reshape(feats.shape[0], feats.shape[1], MOTION_DIM)


def _sinusoid(length: int, width: int) -> torch.Tensor:
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    table = torch.zeros(length, width)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: width // 2])
    return table


class MotionEncoder(nn.Module):
    """Query-token Transformer over [B, T, 516] motion → [B, latent] (unnormalised)."""

    mean: torch.Tensor
    std: torch.Tensor
    positions: torch.Tensor

    def __init__(self, cfg: EvaluatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("mean", torch.zeros(MOTION_DIM))
        self.register_buffer("std", torch.ones(MOTION_DIM))
        self.register_buffer("positions", _sinusoid(cfg.max_frames // cfg.pool + 2, cfg.width), persistent=False)
        self.inp = nn.Linear(MOTION_DIM, cfg.width)
        self.query = nn.Parameter(torch.randn(1, 1, cfg.width) * 0.02)
        layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, cfg.ff, cfg.dropout, activation="gelu",
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.width)
        self.out = nn.Linear(cfg.width, cfg.latent)

    def forward(self, motion: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = (motion - self.mean) / self.std
        pool = self.cfg.pool
        if pool > 1:
            t = x.shape[1] // pool * pool
            x = x[:, :t].reshape(x.shape[0], t // pool, pool, -1).mean(2)
            lengths = torch.clamp(lengths // pool, min=1)
        if x.shape[1] + 1 > self.positions.shape[0]:
            raise EvaluatorError(f"motion of {x.shape[1] * pool} frames is longer than the evaluator's "
                                 f"{self.cfg.max_frames}")
        x = torch.cat([self.query.expand(x.shape[0], -1, -1), self.inp(x)], dim=1)
        x = x + self.positions[: x.shape[1]]
        steps = torch.arange(x.shape[1] - 1, device=x.device)[None, :]
        pad = torch.cat([torch.zeros(x.shape[0], 1, dtype=torch.bool, device=x.device),
                         steps >= lengths[:, None]], dim=1)
        return self.out(self.norm(self.encoder(x, src_key_padding_mask=pad)[:, 0]))


class TextHead(nn.Module):
    """Trainable MLP on frozen sentence embeddings [N, text_dim] → [N, latent] (unnormalised)."""

    def __init__(self, cfg: EvaluatorConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(cfg.text_dim, cfg.text_hidden), nn.GELU(), nn.Dropout(cfg.dropout),
                                 nn.Linear(cfg.text_hidden, cfg.text_hidden), nn.GELU(),
                                 nn.Linear(cfg.text_hidden, cfg.latent))

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        return self.net(text)


class Evaluator(nn.Module):
    """Both encoders and the shared ``latent_scale``; embeddings are unit vectors × latent_scale."""

    def __init__(self, cfg: EvaluatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.motion = MotionEncoder(cfg)
        self.text = TextHead(cfg)
        self.latent_scale = nn.Parameter(torch.tensor(math.sqrt(1.0 / 0.07)))

    def scale(self) -> torch.Tensor:
        return self.latent_scale.clamp(1.0, 10.0)

    def motion_embedding(self, motion: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.motion(motion, lengths), dim=-1) * self.scale()

    def text_embedding(self, text: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(text), dim=-1) * self.scale()

    def set_motion_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Input z-score stats (from the train windows), so features in metres and 6D share one scale."""
        self.motion.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.motion.std.copy_(torch.as_tensor(np.maximum(std, 1e-3), dtype=torch.float32))

    @torch.no_grad()
    def embed_motions(self, feats: np.ndarray, lengths: np.ndarray | None = None, batch: int = 64) -> np.ndarray:
        """Pair features [B, T, 2, 262] (de-normalised) → motion embeddings [B, latent] as numpy."""
        x = torch.from_numpy(motion_input(feats))
        lens = torch.full((len(x),), x.shape[1]) if lengths is None else torch.as_tensor(lengths)
        self.eval()
        device = self.latent_scale.device
        parts = [self.motion_embedding(x[i:i + batch].to(device), lens[i:i + batch].to(device)).cpu()
                 for i in range(0, len(x), batch)]
        return torch.cat(parts).numpy()

    @torch.no_grad()
    def embed_texts(self, sentence_embeddings: np.ndarray | torch.Tensor) -> np.ndarray:
        """Frozen sentence embeddings [N, text_dim] → text embeddings [N, latent] as numpy."""
        self.eval()
        text = torch.as_tensor(sentence_embeddings, dtype=torch.float32).to(self.latent_scale.device)
        return self.text_embedding(text).cpu().numpy()


def contrastive_loss(motion: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a batch where row i of ``motion`` and ``text`` belong together."""
    logits = motion @ text.T
    target = torch.arange(len(motion), device=motion.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def save_evaluator(model: Evaluator, directory: Path, info: dict[str, Any]) -> Path:
    """Write ``evaluator.pt`` (config, weights incl. input stats, training info) with :mod:`checkpoint`."""
    ckpt = Checkpoint(kind="evaluator", config=asdict(model.cfg), state=dict(model.state_dict()), meta=info)
    return save_checkpoint(Path(directory) / EVALUATOR_FILE, ckpt)


def load_evaluator(directory: Path = EVALUATOR_DIR, device: str = "cpu") -> tuple[Evaluator, dict[str, Any]]:
    """Read an evaluator saved by :func:`save_evaluator`; every error names the file."""
    path = Path(directory) / EVALUATOR_FILE
    try:
        ckpt = load_checkpoint(path, kind="evaluator")
        model = Evaluator(EvaluatorConfig(**ckpt.config))
        model.load_state_dict(ckpt.state)
    except CheckpointError as exc:
        raise EvaluatorError(f"{exc} (train one with `intermask eval train-evaluator`)") from exc
    except (RuntimeError, TypeError) as exc:
        raise EvaluatorError(f"{path} does not fit the evaluator ({exc})") from exc
    return model.to(device).eval(), dict(ckpt.meta)
