"""Import the authors' official InterMask release into ONE model folder of the user's model store.

Inputs are what a user downloads (never shipped with this project): the release folder holding
``checkpoints/interhuman/<trans>/{opt.txt, model/best_fid.tar}`` and the VQ folder its ``opt.txt`` names,
OpenAI's CLIP ViT-L/14@336px (TorchScript archive or plain state dict) and InterGen's feature statistics
``global_mean.npy``/``global_std.npy``. Everything is checked before anything is written, and the folder
is written under a hidden name and renamed into place, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import datetime
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ... import __version__
from ...motion import model_store
from ...motion.features import FEATURE_DIM
from ..text.clip_tokenizer import EOT_ID
from ..text.clip_tower import (
    OPENAI_VIT_L14_336_SHA256,
    VIT_L14_336,
    ClipConditionHead,
    ClipTextShape,
    ClipTextTower,
    ClipWeightsError,
    check_clip_for_intermask,
    file_sha256,
    read_clip_state,
    text_tower_state,
)
from .model_folder import VOCAB_FILE, save_parts
from .options import OfficialReleaseError, read_opt_file
from .release import VQ_WEIGHTS, load_release

DEFAULT_NAME = "intermask-official"
DEFAULT_TRANSFORMER = "trans_default"
RELEASE_SUBDIR = Path("checkpoints") / "interhuman"
WEIGHTS = "best_fid.tar"
VOCAB_SOURCE = Path(__file__).resolve().parents[1] / "text" / VOCAB_FILE
#: The official inference settings (``infer.py`` / ``eval_option.py``): 20 steps, CFG 2, top-k keeping
#: ceil(0.1·K) logits; a reaction runs half the steps.
OFFICIAL_SAMPLER = {"steps": 20, "react_steps": 10, "guidance": 2.0, "top_k": 0.9}
LICENCE_SHORT = "Non-commercial use only: trained on InterHuman (CC BY-NC-SA 4.0); do not redistribute."
LICENCE = (
    "Official InterMask weights (Javed et al., ICLR 2025; code MIT, github.com/gohar-malik/InterMask). No licence "
    "is stated for the weights; they are trained on the InterHuman dataset, whose material is CC BY-NC-SA 4.0 and "
    "may not be redistributed, and the feature statistics are InterGen material under the same terms. Use this "
    "model and its motions for NON-COMMERCIAL purposes only and do not share this folder. The text tower is "
    "OpenAI's CLIP ViT-L/14@336px (MIT)."
)

Progress = Callable[[str], None]


@dataclass
class ImportResult:
    """Where the model went, which CLIP it was made with, and what the user should be warned about."""

    folder: Path
    clip_identity: str
    warnings: list[str] = field(default_factory=list)


def release_folder(root: Path, transformer: str) -> Path:
    """The transformer folder of a release, after checking every file the import reads is there."""
    trans_dir = root / RELEASE_SUBDIR / transformer
    needed = [trans_dir / "opt.txt", trans_dir / "model" / WEIGHTS]
    if (trans_dir / "opt.txt").is_file():
        vq_name = read_opt_file(trans_dir / "opt.txt").get("vq_name")
        if isinstance(vq_name, str) and Path(vq_name).name == vq_name:
            needed += [root / RELEASE_SUBDIR / vq_name / "opt.txt", root / RELEASE_SUBDIR / vq_name / "model" / VQ_WEIGHTS]
    missing = [str(p.relative_to(root)) for p in needed if not p.is_file()]
    if missing:
        found = sorted(p.name for p in (root / RELEASE_SUBDIR).iterdir()) if (root / RELEASE_SUBDIR).is_dir() else []
        hint = f" (folders there: {', '.join(found)}; pick one with --trans)" if found else ""
        raise OfficialReleaseError(f"{root} is not an InterMask release: missing {', '.join(missing)}{hint}")
    return trans_dir


def read_stats(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """``global_mean.npy``/``global_std.npy``: 262 finite floats each, std positive."""
    stats = []
    for name in ("global_mean.npy", "global_std.npy"):
        path = folder / name
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise OfficialReleaseError(f"cannot read the statistics file {path}: {exc}") from exc
        if array.shape != (FEATURE_DIM,) or not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
            raise OfficialReleaseError(f"{path} must hold {FEATURE_DIM} finite floats (InterGen's {name}), "
                                       f"got shape {array.shape} {array.dtype}")
        stats.append(torch.from_numpy(array.astype(np.float32)))
    if not bool((stats[1] > 0).all()):
        raise OfficialReleaseError(f"{folder / 'global_std.npy'} has zero or negative entries")
    return stats[0], stats[1]


def read_clip(path: Path) -> tuple[ClipTextTower, str, str, list[str]]:
    """(text tower, identity, sha256, warnings) of the user's CLIP file; refuses one the head cannot use.

    Identified by sha256 (OpenAI's original download) or by its tensor shapes; another 768-wide CLIP is
    accepted with a warning, since it runs but gives conditions the model was not trained with."""
    sha = file_sha256(path)
    try:
        full = read_clip_state(path)
    except ClipWeightsError:
        raise
    except Exception as exc:  # torch raises many types for foreign or truncated files
        raise ClipWeightsError(f"{path} is not a readable CLIP file ({type(exc).__name__}: {exc})") from exc
    identity = check_clip_for_intermask(full)
    state = text_tower_state(full)
    del full
    vocab = ClipTextShape.of_state(state).vocab_size
    if vocab != EOT_ID + 1:
        raise ClipWeightsError(f"this CLIP's text tower knows {vocab} token ids, but OpenAI's tokenizer makes "
                               f"{EOT_ID + 1}; use OpenAI's CLIP {VIT_L14_336} (ViT-L-14-336px.pt)")
    warnings = []
    if sha != OPENAI_VIT_L14_336_SHA256 and identity != VIT_L14_336:
        warnings.append(f"{path.name} is {identity}, not OpenAI's CLIP {VIT_L14_336} that the official model was "
                        "trained with: its text conditions will not be the ones the model knows")
    try:
        tower = ClipTextTower.from_state(state)
    except (RuntimeError, ValueError) as exc:
        raise ClipWeightsError(f"{path}: the text tower's tensors do not fit CLIP's text transformer ({exc})") from exc
    return tower, identity, sha, warnings


def _card(name: str, root: Path, transformer: str, vq_name: str, clip: Path, identity: str, sha: str,
          sizes: dict[str, int]) -> dict[str, object]:
    return {
        "name": name, "kind": model_store.OFFICIAL_KIND, "non_commercial": True,
        "licence": LICENCE, "licence_short": LICENCE_SHORT,
        "source": {"release": "InterMask official release (Google Drive folder 1WCFR7Opc5S3cke26cjEhdvSOH_CXL2Ut)",
                   "folder": str(root), "transformer": transformer, "vq": vq_name, "weights": WEIGHTS,
                   "clip": {"file": clip.name, "identity": identity, "sha256": sha,
                            "openai_original": sha == OPENAI_VIT_L14_336_SHA256}},
        "sampler": dict(OFFICIAL_SAMPLER), "sizes": sizes, "contacts": "derived from decoded positions",
        "imported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "importer": f"intermask-blender {__version__}",
    }


def import_official(root: Path, clip: Path, stats_dir: Path, name: str = DEFAULT_NAME,
                    transformer: str = DEFAULT_TRANSFORMER, store: Path | None = None,
                    progress: Progress = lambda _: None) -> ImportResult:
    """Check everything, then write the model folder atomically; returns where it went."""
    store = model_store.models_dir() if store is None else store
    model_store.free_folder(name, store)
    progress("[1/5] checking the release folder")
    trans_dir = release_folder(Path(root), transformer)
    if not Path(clip).is_file():
        raise ClipWeightsError(f"CLIP file not found: {clip}")
    progress("[2/5] reading the feature statistics")
    stats = read_stats(Path(stats_dir))
    progress("[3/5] converting the release (transformer, VQ-VAE, text head)")
    release = load_release(trans_dir, WEIGHTS)
    try:
        head = ClipConditionHead.from_official_state(release.text_state)
    except RuntimeError as exc:
        raise OfficialReleaseError(f"{trans_dir}: the text head (clipTrans, clipln) does not fit ({exc})") from exc
    progress(f"[4/5] reading CLIP from {clip}")
    tower, identity, sha, warnings = read_clip(Path(clip))
    sizes = {"latent_dim": release.transformer_options.latent_dim, "n_layers": release.transformer_options.n_layers,
             "n_heads": release.transformer_options.n_heads, "ff_size": release.transformer_options.ff_size,
             "nb_code": release.vq_options.nb_code, "code_dim": release.vq_options.code_dim,
             "vq_width": release.vq_options.width, "clip_layers": tower.shape.layers}
    progress(f"[5/5] writing the model folder {store / name}")
    staging, final = model_store.staging_folder(name, store)
    try:
        meta = {"source": "official InterMask release", "transformer": transformer,
                "vq": release.transformer_options.vq_name}
        save_parts(staging, release.transformer, release.vq, release.vq_options, stats, tower, head, meta)
        shutil.copyfile(VOCAB_SOURCE, staging / VOCAB_FILE)
        card = _card(name, Path(root).resolve(), transformer, release.transformer_options.vq_name, Path(clip),
                     identity, sha, sizes)
        (staging / model_store.CARD_NAME).write_text(json.dumps(card, indent=1), encoding="utf-8")
        model_store.publish(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ImportResult(final, identity, warnings)
