"""Sentence embeddings of captions, remembered on disk between runs.

MiniLM runs at a few sentences per second on a busy 2-core CPU, and the evaluator's training and every
evaluation embed the same deterministic captions again; a file in the git-ignored cache turns that into a
lookup. The file is keyed by the encoder's name, so a different encoder never reuses another's vectors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.build import REPO_ROOT

CACHE_DIR = REPO_ROOT / "cache" / "sentences"


class SentenceCache:
    """``encode(texts) -> [N, D]`` numpy, through ``encoder`` (anything with ``name`` and ``encode``)."""

    def __init__(self, encoder: Any, folder: Path = CACHE_DIR) -> None:
        self.encoder = encoder
        self.path = Path(folder) / f"{str(encoder.name).replace('/', '_').replace(':', '_')}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.is_file():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    self.vectors = dict(zip(data["texts"].tolist(), data["vectors"]))
            except (OSError, ValueError, KeyError):
                self.vectors = {}  # an unreadable cache is only a lost speed-up; it is rewritten below

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        for start in range(0, len(missing), 256):  # save as it goes: an interrupted run keeps its work
            chunk = missing[start:start + 256]
            emb = self.encoder.encode(chunk)
            emb = emb.detach().cpu().numpy() if isinstance(emb, torch.Tensor) else np.asarray(emb)
            self.vectors.update(zip(chunk, emb.astype(np.float32)))
            self._save()
        return np.stack([self.vectors[t] for t in texts]).astype(np.float32)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.npz")
        keys = list(self.vectors)
        np.savez(tmp, texts=np.array(keys), vectors=np.stack([self.vectors[k] for k in keys]))
        os.replace(tmp, self.path)
