"""The official-release fixture imported through the real command, for tests of import, check and generation.

``../shared/data/official_intermask_fixture`` is a fake release at small sizes (random weights) with reference
outputs of the official code. The CLIP it is imported with is written here: a random OpenAI-format TorchScript
file shaped like ViT-L/14@336px (768 wide, one text layer instead of twelve, the full 49,408-id vocabulary the
tokenizer needs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clip_fixtures import fake_clip_state, write_torchscript

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO.parent / "shared" / "data" / "official_intermask_fixture"
STATS = FIXTURE / "FAKE_stats"
FAKE_CLIP_W64 = FIXTURE / "fake_clip_text_w64_l2_h1_fp16.pt"
TRANSFORMER = "trans_small"
CLIP_VOCAB = 49408


def models_cli(*args: str, models_dir: Path) -> subprocess.CompletedProcess[str]:
    """``intermask models ...`` in a fresh interpreter, with ``models_dir`` as the model store."""
    env = dict(os.environ, OMP_NUM_THREADS="1", INTERMASK_MODELS_DIR=str(models_dir))
    return subprocess.run([sys.executable, "-m", "vendor_models", "models", *args], capture_output=True, text=True,
                          timeout=280, env=env, cwd=REPO)


def write_vit_l14_336(path: Path) -> Path:
    """A random CLIP ViT-L/14@336px stand-in in OpenAI's TorchScript format (≈90 MB)."""
    return write_torchscript(path, fake_clip_state(vocab_size=CLIP_VOCAB))


def import_fixture(models_dir: Path, clip: Path, name: str) -> subprocess.CompletedProcess[str]:
    """Import the fixture release into ``models_dir`` as ``name`` through ``intermask models import-official``."""
    return models_cli("import-official", str(FIXTURE), "--clip", str(clip), "--stats", str(STATS),
                      "--trans", TRANSFORMER, "--name", name, models_dir=models_dir)
