"""The official ``opt.txt`` files → typed, validated option dataclasses.

A release is only usable if it is the network we reproduce, so every option is either a size we read,
a structural choice that must equal the one we implement, or a training-only setting we ignore by name.
An option in none of these lists (a newer release) is refused rather than silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OptionValue = bool | int | float | str

HEADER = "------------ Options -------------"
FOOTER = "-------------- End ----------------"

#: CLIP text width that ``cond_emb`` reads (hard-coded in the official code).
CLIP_DIM = 768


class OfficialReleaseError(ValueError):
    """The files are not an official InterMask release we can reproduce; the message names the cause."""


# ---- what each file may contain -------------------------------------------------------------------------

#: Structure we implement: option → (the only accepted value, whether the file must contain it).
VQ_FIXED: dict[str, tuple[OptionValue, bool]] = {
    "dataset_name": ("interhuman", True),
    "motion_rep": ("smpl", False),
    "down_t": (2, True),
    "stride_t": (2, True),
    "dilation_growth_rate": (3, True),
    "vq_act": ("relu", True),
    "vq_norm": ("None", True),        # get_opt reads None as the string 'None'
    "num_quantizers": (1, True),
    "vq_dec_inter": (False, False),   # the interaction decoder variant has extra layers
}
#: Options read into the dataclass (``output_emb_width`` must equal ``code_dim``).
VQ_READ = ("nb_code", "code_dim", "output_emb_width", "width", "depth")
#: Ignored by name: training settings, paths and run names (the folder layout locates the files).
VQ_TRAINING_ONLY = (
    "batch_size", "cache", "checkpoints_dir", "commit", "do_eval", "eval_every_e", "feat_bias", "gamma",
    "gpu_id", "is_continue", "is_train", "loss_bn", "loss_explicit", "loss_fc", "loss_geo", "loss_vel", "lr",
    "max_epoch", "mu", "name", "quantize_dropout_prob", "recons_loss", "save_every_e", "test_batch_size",
    "weight_decay", "window_size", "window_stride",
    "shared_codebook",                # no effect with a single quantizer (num_quantizers is checked)
)

TRANSFORMER_FIXED: dict[str, tuple[OptionValue, bool]] = {
    "dataset_name": ("interhuman", True),
    "motion_rep": ("global", False),
    "force_mask": (False, False),     # True would mean a text-free model
    "cond_mode": ("text", False),     # the next three are hard-coded in infer.py; checked if written
    "clip_version": ("ViT-L/14@336px", False),
    "clip_dim": (CLIP_DIM, False),
}
TRANSFORMER_READ = ("vq_name", "latent_dim", "n_heads", "n_layers", "ff_size", "dropout")
#: Normally absent (infer.py copies them from the VQ); if written they must agree with it.
TRANSFORMER_FROM_VQ = ("num_tokens", "code_dim")
TRANSFORMER_TRAINING_ONLY = (
    "batch_size", "cache", "checkpoints_dir", "cond_drop_prob", "do_eval", "eval_every_e", "gamma", "gpu_id",
    "gumbel_sample", "interaction_mask_prob", "is_continue", "is_train", "lr", "max_epoch", "name", "seed",
    "step_unroll", "test_batch_size",
)


@dataclass(frozen=True)
class OfficialVQOptions:
    """Sizes of the official VQ-VAE (its structure is fixed by :data:`VQ_FIXED`)."""

    nb_code: int
    code_dim: int
    width: int
    depth: int
    dilation_growth_rate: int


@dataclass(frozen=True)
class OfficialTransformerOptions:
    """Sizes of the official masked transformer; ``vq_name`` is the folder of its VQ-VAE."""

    vq_name: str
    latent_dim: int
    n_heads: int
    n_layers: int
    ff_size: int
    dropout: float


# ---- parsing ---------------------------------------------------------------------------------------------

_FLOAT = re.compile(r"[0-9]+\.[0-9]+")
_INT = re.compile(r"[0-9]+")


def typed_value(text: str) -> OptionValue:
    """Type a value as the official ``get_opt`` does: True/False, then ``d.d`` floats, digit ints, else str."""
    if text in ("True", "False"):
        return text == "True"
    unsigned = text.strip().lstrip("-").lstrip("+")
    if _FLOAT.fullmatch(unsigned):
        return float(text)
    if _INT.fullmatch(unsigned):
        return int(text)
    return text


def read_opt_file(path: str | Path) -> dict[str, OptionValue]:
    """``opt.txt`` → {key: typed value}; the header/footer lines must be there, keys must be unique."""
    path = Path(path)
    try:
        lines = [line.rstrip("\r\n") for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise OfficialReleaseError(f"cannot read {path}: {exc}") from exc
    lines = [line for line in lines if line.strip()]
    if len(lines) < 2 or lines[0].strip() != HEADER or lines[-1].strip() != FOOTER:
        raise OfficialReleaseError(f"{path} is not an official opt.txt (no '{HEADER}' … '{FOOTER}' frame)")
    options: dict[str, OptionValue] = {}
    for line in lines[1:-1]:
        key, sep, value = line.partition(": ")
        if not sep or not key:
            raise OfficialReleaseError(f"{path}: line {line!r} is not 'key: value'")
        if key in options:
            raise OfficialReleaseError(f"{path}: option {key!r} appears twice")
        try:
            options[key] = typed_value(value)
        except ValueError as exc:
            raise OfficialReleaseError(f"{path}: option {key}: {value!r} is not a number") from exc
    return options


def _validate(options: Mapping[str, OptionValue], fixed: Mapping[str, tuple[OptionValue, bool]],
              read: tuple[str, ...], ignored: tuple[str, ...], source: str) -> None:
    for key, (expected, required) in fixed.items():
        if key not in options:
            if required:
                raise OfficialReleaseError(f"{source}: option {key} is missing (expected {expected!r})")
            continue
        value = options[key]
        if type(value) is not type(expected) or value != expected:
            raise OfficialReleaseError(
                f"{source}: option {key} = {value!r} is not supported (only {expected!r} is implemented)")
    known = set(fixed) | set(read) | set(ignored)
    unknown = sorted(set(options) - known)
    if unknown:
        raise OfficialReleaseError(
            f"{source}: unknown option(s) {', '.join(f'{k} = {options[k]!r}' for k in unknown)}; "
            "this release is newer than the network we reproduce")


def _get(options: Mapping[str, OptionValue], key: str, kind: type, source: str) -> Any:
    """A required option of type ``kind`` (an int is accepted where a float is expected)."""
    if key not in options:
        raise OfficialReleaseError(f"{source}: option {key} is missing")
    value = options[key]
    if kind is float and type(value) is int:
        value = float(value)
    if type(value) is not kind:
        raise OfficialReleaseError(f"{source}: option {key} = {value!r} is not a {kind.__name__}")
    return value


def _size(options: Mapping[str, OptionValue], key: str, source: str) -> int:
    value: int = _get(options, key, int, source)
    if value <= 0:
        raise OfficialReleaseError(f"{source}: option {key} = {value!r} must be positive")
    return value


def vq_options(options: Mapping[str, OptionValue], source: str = "VQ opt.txt") -> OfficialVQOptions:
    """Validate a VQ ``opt.txt`` and return its sizes."""
    _validate(options, VQ_FIXED, VQ_READ, VQ_TRAINING_ONLY, source)
    parsed = OfficialVQOptions(
        nb_code=_size(options, "nb_code", source),
        code_dim=_size(options, "code_dim", source),
        width=_size(options, "width", source),
        depth=_size(options, "depth", source),
        dilation_growth_rate=_size(options, "dilation_growth_rate", source),
    )
    emb = options.get("output_emb_width", parsed.code_dim)
    if emb != parsed.code_dim:
        raise OfficialReleaseError(f"{source}: option output_emb_width = {emb!r} differs from code_dim "
                                   f"{parsed.code_dim} (the official model requires them equal)")
    return parsed


def transformer_options(options: Mapping[str, OptionValue], vq: OfficialVQOptions,
                        source: str = "transformer opt.txt") -> OfficialTransformerOptions:
    """Validate a transformer ``opt.txt`` against its VQ and return its sizes."""
    _validate(options, TRANSFORMER_FIXED, TRANSFORMER_READ + TRANSFORMER_FROM_VQ, TRANSFORMER_TRAINING_ONLY, source)
    for key, expected in zip(TRANSFORMER_FROM_VQ, (vq.nb_code, vq.code_dim)):
        if key in options and options[key] != expected:
            raise OfficialReleaseError(f"{source}: option {key} = {options[key]!r} differs from the VQ's {expected}")
    parsed = OfficialTransformerOptions(
        vq_name=_get(options, "vq_name", str, source),
        latent_dim=_size(options, "latent_dim", source),
        n_heads=_size(options, "n_heads", source),
        n_layers=_size(options, "n_layers", source),
        ff_size=_size(options, "ff_size", source),
        dropout=_get(options, "dropout", float, source),
    )
    if parsed.latent_dim % parsed.n_heads:
        raise OfficialReleaseError(f"{source}: latent_dim {parsed.latent_dim} is not divisible by n_heads {parsed.n_heads}")
    return parsed
