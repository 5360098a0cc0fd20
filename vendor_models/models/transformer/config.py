"""Configuration of the Inter-M Transformer and its training recipe, with the ``small``/``paper`` presets.

Frozen dataclasses so a checkpoint stores them as JSON (``models.config.config_to_dict``) and rebuilds
the exact network. ``num_codes`` must match the VQ-VAE's codebook; the presets fill it from the VQ preset
of the same name so the two stages always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..vq.config import preset as vq_preset

#: Spatial token groups per time step (the VQ maps 22 joints → 5 groups).
NUM_GROUPS = 5


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of the network. Token ids ``0..num_codes-1`` are codes; MASK, PAD and SEP follow them."""

    num_codes: int = 512
    token_dim: int = 128            # width of the token embedding (InterMask: 512, then projected)
    dim: int = 128                  # transformer width (InterMask: 384)
    heads: int = 4
    layers: int = 2
    ff: int = 256
    dropout: float = 0.0
    text_dim: int = 384             # size of the sentence vector from the text encoder
    text_width: int = 0             # >0: residual MLP text head of this width (paper preset)
    text_layers: int = 0
    text_ff: int = 2048
    groups: int = NUM_GROUPS
    # Switches that reproduce the authors' released network (models.official); both off for our own files.
    official_position_code: bool = False  # sin/cos interleaved per frequency, as positional-encodings lays it out
    doubled_residual: bool = False        # spatio-temporal layer adds its input once per branch, i.e. twice

    @property
    def mask_id(self) -> int:
        return self.num_codes

    @property
    def pad_id(self) -> int:
        return self.num_codes + 1

    @property
    def sep_id(self) -> int:
        return self.num_codes + 2

    @property
    def vocab(self) -> int:
        return self.num_codes + 3


@dataclass(frozen=True)
class ObjectiveConfig:
    """The masked-token objective (InterMask §2.2): probabilities of each corruption."""

    interaction_mask_prob: float = 0.2   # batches where one person is fully masked (reaction training)
    random_token_prob: float = 0.1       # of masked positions: replaced by a random code
    mask_token_prob: float = 0.88        # of the remaining masked positions: replaced by MASK
    text_drop_prob: float = 0.1          # classifier-free guidance
    step_unroll: float = 0.0             # weight of the step-unroll second pass (0 = off)
    unroll_steps: int = 20


@dataclass(frozen=True)
class TransformerTrainConfig:
    """How the transformer is trained (AdamW, warm-up, ×1/3 at the milestones)."""

    steps: int = 4000
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-5
    warmup_steps: int = 50
    milestones: tuple[float, ...] = (0.6, 0.85)
    grad_clip: float = 1.0
    seed: int = 3407
    threads: int = 2
    log_every: int = 10
    save_every: int = 20
    val_every: int = 50


@dataclass(frozen=True)
class TransformerPreset:
    model: TransformerConfig = field(default_factory=TransformerConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TransformerTrainConfig = field(default_factory=TransformerTrainConfig)


def _with_codes(name: str, model: TransformerConfig) -> TransformerConfig:
    return replace(model, num_codes=vq_preset(name).model.codebook_size)


PRESETS: dict[str, TransformerPreset] = {
    "small": TransformerPreset(model=_with_codes("small", TransformerConfig())),
    "paper": TransformerPreset(
        model=_with_codes("paper", TransformerConfig(
            token_dim=512, dim=384, heads=6, layers=6, ff=1024, dropout=0.2,
            text_width=768, text_layers=2, text_ff=2048,
        )),
        objective=ObjectiveConfig(step_unroll=1.0),
        train=TransformerTrainConfig(steps=200000, batch_size=52, lr=2e-4, warmup_steps=2000, threads=8,
                                     milestones=(0.5, 0.7, 0.85), log_every=100, save_every=2000, val_every=4000),
    ),
}


def preset(name: str) -> TransformerPreset:
    """Look up a preset by name with a message that lists the choices."""
    if name not in PRESETS:
        raise ValueError(f"unknown transformer config {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]
