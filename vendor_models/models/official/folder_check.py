"""Check an imported official model folder against reference outputs of the official code.

A reference folder is laid out like ``shared/data/official_intermask_fixture`` (any subset of its files):
``model_reference.pt`` and ``generation_reference.pt`` (transformer, VQ-VAE, the traced generations),
``cliptrans_reference.pt`` (the text head), ``tokenizer_reference.{json,pt}`` and ``clip_text_reference.pt``
(the CLIP text tower that made it: the model's own, or the file given as ``clip``). Everything is recomputed
with the very objects generation uses (:func:`.model_folder.load_official_model`); sizes come from the files.
Whole-run generation ids are replayed with the official random draws and reported, not required.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..text.clip_tower import ClipTextTower, load_clip_text_state
from .model_folder import OfficialModel
from .reference_check import ATOL, RTOL, check_reference, compare, replay_generations

MODEL_FILES = ("model_reference.pt", "generation_reference.pt")
REFERENCE_FILES = (*MODEL_FILES, "cliptrans_reference.pt", "tokenizer_reference.pt", "clip_text_reference.pt")


@dataclass(frozen=True)
class CheckLine:
    """One recomputed output: its largest absolute error and whether it is within tolerance."""

    name: str
    error: float
    passed: bool
    required: bool = True
    note: str = ""


def _load(path: Path) -> dict[str, torch.Tensor]:
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a reference dict")
    return data


def _lines(results: dict[str, tuple[float, bool]], source: str) -> list[CheckLine]:
    return [CheckLine(name, error, passed, note=source) for name, (error, passed) in sorted(results.items())]


def _model_checks(model: OfficialModel, ref: dict[str, torch.Tensor]) -> list[CheckLine]:
    stats = (model.codec.mean.cpu(), model.codec.std.cpu())
    lines = _lines(check_reference(model.transformer, model.codec.vq, ref, stats, ATOL, RTOL), "transformer/VQ")
    for name, (wrong, equal) in sorted(replay_generations(model.transformer, ref).items()):
        note = "whole run equal" if equal else f"{int(wrong)} ids differ (needs the same RNG and multinomial kernel)"
        lines.append(CheckLine(name, wrong, equal, required=False, note=note))
    return lines


def _head_checks(model: OfficialModel, ref: dict[str, torch.Tensor]) -> list[CheckLine]:
    head, features, ids = model.encoder.head, ref["input_clip_features"], ref["token_ids"]
    results = {"cliptrans_out": compare(head.refine(features), ref["cliptrans_out"]),
               "text_feat": compare(head(features, ids), ref["text_feat"])}
    return _lines(results, "text head")


def _tokenizer_checks(model: OfficialModel, ref: dict[str, torch.Tensor], folder: Path) -> list[CheckLine]:
    entries = json.loads((folder / "tokenizer_reference.json").read_text(encoding="utf-8"))["entries"]
    ids = model.encoder.tokenizer([entry["prompt"] for entry in entries])
    results = {"token_ids": compare(ids, ref["token_ids"]), "eot_index": compare(ids.argmax(-1), ref["eot_index"])}
    return _lines(results, "tokenizer")


def _tower_checks(model: OfficialModel, ref: dict[str, torch.Tensor], clip: Path | None) -> list[CheckLine]:
    tower = ClipTextTower.from_state(load_clip_text_state(clip)) if clip is not None else model.encoder.tower
    source = f"CLIP tower of {clip.name}" if clip is not None else "the model's CLIP tower"
    expected = ref["clip_token_features"]
    if tower.shape.width != expected.shape[-1]:
        note = f"{source} is {tower.shape.width} wide, the reference {expected.shape[-1]}; pass the CLIP that made it (--clip)"
        return [CheckLine("clip_token_features", float("inf"), False, note=note)]
    error, passed = compare(tower(ref["token_ids"].to(tower.positional_embedding.device)).cpu(), expected)
    return [CheckLine("clip_token_features", error, passed, note=source)]


@torch.no_grad()
def check_model_folder(refdir: Path, model: OfficialModel, clip: Path | None = None) -> list[CheckLine]:
    """Every reference output found in ``refdir``, recomputed; raises ``FileNotFoundError`` if there is none."""
    present = [name for name in REFERENCE_FILES if (refdir / name).is_file()]
    if not present:
        raise FileNotFoundError(f"{refdir} holds none of the reference files {', '.join(REFERENCE_FILES)}")
    lines: list[CheckLine] = []
    merged: dict[str, torch.Tensor] = {}
    for name in MODEL_FILES:
        if name in present:
            merged.update(_load(refdir / name))
    if merged:
        lines += _model_checks(model, merged)
    if "cliptrans_reference.pt" in present:
        lines += _head_checks(model, _load(refdir / "cliptrans_reference.pt"))
    if "tokenizer_reference.pt" in present and (refdir / "tokenizer_reference.json").is_file():
        lines += _tokenizer_checks(model, _load(refdir / "tokenizer_reference.pt"), refdir)
    if "clip_text_reference.pt" in present:
        lines += _tower_checks(model, _load(refdir / "clip_text_reference.pt"), clip)
    return lines
