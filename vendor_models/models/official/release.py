"""Find and load an official release folder: ``<root>/{trans_name,vq_name}/{opt.txt, model/*.tar}``.

Mirrors what the official ``infer.py`` reads: the transformer's ``opt.txt`` names its VQ folder
(``vq_name``, a sibling), the VQ weights are always ``best_fid.tar``, and the weights sit under
``vq_model``/``net`` and ``t2m_transformer``/``trans``. Files load with ``weights_only=True`` (no code
runs); float tensors are cast to float32 (the fixture stores the text side as float16).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..transformer.model import InterMTransformer
from .convert import transformer_from_state
from .options import (
    OfficialReleaseError,
    OfficialTransformerOptions,
    OfficialVQOptions,
    read_opt_file,
    transformer_options,
    vq_options,
)
from .vq import OfficialVQVAE, vq_from_state

VQ_WEIGHTS = "best_fid.tar"
VQ_KEYS = ("vq_model", "net")
TRANSFORMER_KEYS = ("t2m_transformer", "trans")


@dataclass
class OfficialRelease:
    transformer: InterMTransformer
    vq: OfficialVQVAE
    transformer_options: OfficialTransformerOptions
    vq_options: OfficialVQOptions
    text_state: dict[str, torch.Tensor]     # clipTrans.* / clipln.*: the text encoder's share of the file


def read_weights(path: Path, keys: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The state dict stored under the first of ``keys`` in a checkpoint file, float32."""
    if not path.is_file():
        raise OfficialReleaseError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise OfficialReleaseError(f"{path} is not a loadable checkpoint ({type(exc).__name__}: {exc})") from exc
    key = next((k for k in keys if isinstance(payload, dict) and k in payload), None)
    if key is None or not isinstance(payload[key], dict):
        raise OfficialReleaseError(f"{path} holds none of {list(keys)}")
    state = payload[key]
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise OfficialReleaseError(f"{path}: '{key}' is not a state dict of tensors")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_release(transformer_dir: str | Path, weights: str = "best_fid.tar") -> OfficialRelease:
    """Load the transformer folder (its ``model/<weights>``) and the VQ folder its ``opt.txt`` names."""
    trans_dir = Path(transformer_dir)
    raw = read_opt_file(trans_dir / "opt.txt")
    vq_name = raw.get("vq_name")
    if not isinstance(vq_name, str) or Path(vq_name).name != vq_name:
        raise OfficialReleaseError(f"{trans_dir / 'opt.txt'}: vq_name {vq_name!r} is not a folder name")
    vq_dir = trans_dir.parent / vq_name
    vq_opt = vq_options(read_opt_file(vq_dir / "opt.txt"), source=str(vq_dir / "opt.txt"))
    trans_opt = transformer_options(raw, vq_opt, source=str(trans_dir / "opt.txt"))
    vq = vq_from_state(vq_opt, read_weights(vq_dir / "model" / VQ_WEIGHTS, VQ_KEYS))
    transformer, text_state = transformer_from_state(
        trans_opt, vq_opt, read_weights(trans_dir / "model" / weights, TRANSFORMER_KEYS))
    return OfficialRelease(transformer, vq, trans_opt, vq_opt, text_state)
