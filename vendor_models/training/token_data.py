"""Transformer training data: pair windows → VQ token maps + captions + cached text vectors.

Every window is a 10-second stretch of a real pair, canonicalised at its own first frame (person 1 at
the origin facing +Z), exactly like a generated clip, so prefixes of it are valid shorter clips too.
Augmentation happens on the clip before windowing: person swap (then re-canonicalised on the new person
1) and left/right mirror, so the captions — measured on the augmented motion by the captioner — stay
true. Each window gets captions for prefixes of ``BUCKETS`` token steps (2, 4, 6 and 10 s): one full
description and two short ones of one or two facts (closer to what people type as prompts).

Two caches, because they depend on different things: captions + text vectors depend only on the data
(and cost minutes of MiniLM time on a CPU); tokens depend on the VQ-VAE checkpoint too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.captioner import CaptionError, facts, measure
from ..data.captioner_phrases import compose
from ..models.text.sentence_encoder import TextEncoder
from ..models.transformer.persist import file_key
from ..models.vq.vqvae import VQVAE
from ..motion.canonical import canonicalise_clip
from ..motion.clip_file import Clip, ClipError
from ..motion.features import mirror, pair_features
from ..motion.protocol import FRAMES_PER_TOKEN

WINDOW_ROWS = 300                      # feature rows per window (10 s at 30 fps)
BUCKETS = (15, 30, 45, 75)             # caption prefixes, in token steps (4 frames each)
#: how often each bucket is a batch's longest: attention cost grows with the square of the length, and
#: on a shared 2-core CPU short batches buy many more updates, while long ones keep 10 s clips coherent
BUCKET_WEIGHTS = (0.35, 0.3, 0.2, 0.15)
SHORT_CAPTIONS = 2
GENERIC_CAPTIONS = ("two people dance salsa", "salsa dance", "a couple dances salsa together")

Log = Callable[[str], None]


@dataclass
class Window:
    name: str
    feats: np.ndarray        # [WINDOW_ROWS, 2, 262] canonical features
    positions: np.ndarray    # [WINDOW_ROWS + 1, 2, 22, 3] canonical clip positions (for captions)
    contacts: np.ndarray     # [WINDOW_ROWS + 1, 2, 4]


def swap_people(clip: Clip) -> Clip:
    return Clip(clip.positions[:, ::-1], clip.rotations[:, ::-1], clip.contacts[:, ::-1], clip.fps, dict(clip.meta))


def variants(clip: Clip, augment: bool) -> list[tuple[str, Clip]]:
    if not augment:
        return [("orig", clip)]
    swapped = swap_people(clip)
    return [("orig", clip), ("swap", swapped), ("mirror", mirror(clip)), ("mirror_swap", mirror(swapped))]


def iter_windows(paths: list[Path], stride: int, augment: bool) -> Iterator[Window]:
    """Canonicalised 10-second pair windows of every clip (and augmented copy), in a fixed order."""
    for path in paths:
        try:
            clip = Clip.load(path)
        except ClipError as exc:
            raise ClipError(f"cannot read training clip {path}: {exc}") from exc
        if clip.num_people != 2:
            raise ClipError(f"{path}: the transformer trains on pairs, this clip has {clip.num_people} person(s)")
        for tag, variant in variants(clip, augment):
            for start in range(0, variant.num_frames - WINDOW_ROWS, stride):
                end = start + WINDOW_ROWS + 1
                part = Clip(variant.positions[start:end], variant.rotations[start:end],
                            variant.contacts[start:end], variant.fps)
                canonical = canonicalise_clip(part)
                yield Window(f"{path.stem}:{tag}:{start}", pair_features(part).astype(np.float32),
                             canonical.positions, canonical.contacts)


def window_captions(window: Window, rng: np.random.Generator) -> list[list[str]]:
    """Per bucket: [full description, short caption, short caption]."""
    out = []
    for steps in BUCKETS:
        frames = FRAMES_PER_TOKEN * steps + 1
        try:
            found = facts(measure(window.positions[:frames], window.contacts[:frames], 30.0))
        except CaptionError:
            found = []
        if not found:
            out.append([GENERIC_CAPTIONS[0]] * (1 + SHORT_CAPTIONS))
            continue
        texts = compose(found, rng, 1)
        for _ in range(SHORT_CAPTIONS):
            size = min(len(found), int(rng.integers(1, 3)))
            chosen = sorted(rng.choice(len(found), size=size, replace=False))
            texts += compose([found[i] for i in chosen], rng, 1)
        out.append(texts)
    return out


@dataclass
class TokenSet:
    """Token maps of all windows, the caption ids per (window, bucket), and the text vectors."""

    tokens: np.ndarray           # [W, 2, 5, 75] int16
    caption_ids: np.ndarray      # [W, len(BUCKETS), 1 + SHORT_CAPTIONS] int32 rows of ``embeddings``
    embeddings: np.ndarray       # [C, text_dim] float32; the last len(GENERIC_CAPTIONS) are generic
    texts: list[str]

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def batch(self, rng: np.random.Generator, size: int, generic_prob: float = 0.1
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ids [B, 2, 5, L], lengths [B], text [B, D]); L = the longest drawn bucket, shorter items padded."""
        rows = rng.integers(0, len(self), size=size)
        top = int(rng.choice(len(BUCKETS), p=BUCKET_WEIGHTS))
        buckets = rng.integers(0, top + 1, size=size)
        lengths = np.asarray(BUCKETS)[buckets]
        choice = rng.integers(0, self.caption_ids.shape[2], size=size)
        text_rows = self.caption_ids[rows, buckets, choice]
        generic = rng.random(size) < generic_prob
        n_generic = len(GENERIC_CAPTIONS)
        text_rows = np.where(generic, len(self.embeddings) - n_generic + rng.integers(0, n_generic, size), text_rows)
        ids = torch.from_numpy(self.tokens[rows, :, :, : BUCKETS[top]].astype(np.int64))
        return ids, torch.from_numpy(lengths.astype(np.int64)), torch.from_numpy(self.embeddings[text_rows])


def _data_key(paths: list[Path], stride: int, augment: bool) -> str:
    h = hashlib.sha1(json.dumps([stride, augment, WINDOW_ROWS, BUCKETS, SHORT_CAPTIONS]).encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:12]


@torch.no_grad()
def _tokenise(vq: VQVAE, feats: list[np.ndarray]) -> np.ndarray:
    """[N, 300, 2, 262] windows → [N, 2, 5, 75] codes (int16)."""
    x = torch.from_numpy(np.stack(feats))                               # [N, T, 2, 262]
    n = x.shape[0]
    per_person = x.permute(0, 2, 1, 3).reshape(n * 2, WINDOW_ROWS, -1)
    codes = vq.encode(vq.normalise(per_person))                         # [2N, 5, 75]
    return codes.reshape(n, 2, *codes.shape[1:]).numpy().astype(np.int16)


def build_token_set(paths: list[Path], vq: VQVAE | None, vq_path: Path | None, encoder: TextEncoder, cache: Path,
                    stride: int, augment: bool, seed: int, log: Log = print) -> TokenSet | None:
    """Tokens, captions and text vectors for ``paths``, from the caches when they are current.

    Without a VQ-VAE only the caption cache is built (it does not depend on the VQ) and None returned.
    """
    cache.mkdir(parents=True, exist_ok=True)
    key = _data_key(paths, stride, augment)
    text_file = cache / f"captions_{key}_{encoder.name}.npz"
    token_file = None if vq_path is None else cache / f"tokens_{key}_{file_key(vq_path)}.npy"
    have_text = text_file.is_file()
    have_tokens = token_file is None or vq is None or token_file.is_file()
    if not (have_text and have_tokens):
        rng = np.random.default_rng(seed)
        token_chunks: list[np.ndarray] = []
        pending: list[np.ndarray] = []
        captions: list[list[list[str]]] = []
        for window in iter_windows(paths, stride, augment):
            if not have_tokens and vq is not None:
                pending.append(window.feats)
                if len(pending) == 32:
                    token_chunks.append(_tokenise(vq, pending))
                    pending = []
            if not have_text:
                captions.append(window_captions(window, rng))
        if pending and vq is not None:
            token_chunks.append(_tokenise(vq, pending))
        if not have_tokens and token_file is not None:
            np.save(token_file, np.concatenate(token_chunks))
            log(f"tokenised {sum(len(c) for c in token_chunks)} windows → {token_file}")
        if not have_text:
            _save_captions(text_file, captions, encoder, log)
    if token_file is None:
        return None
    tokens = np.load(token_file)
    with np.load(text_file) as data:
        caption_ids, embeddings = data["caption_ids"], data["embeddings"]
        texts = [str(t) for t in data["texts"]]
    if len(caption_ids) != len(tokens):
        raise ValueError(f"caches disagree: {text_file} has {len(caption_ids)} windows, {token_file} {len(tokens)}; "
                         "delete them to rebuild")
    return TokenSet(tokens, caption_ids, embeddings, texts)


def _save_captions(path: Path, captions: list[list[list[str]]], encoder: TextEncoder, log: Log) -> None:
    unique = sorted({t for window in captions for bucket in window for t in bucket} - set(GENERIC_CAPTIONS))
    texts = unique + list(GENERIC_CAPTIONS)
    row = {t: i for i, t in enumerate(texts)}
    ids = np.array([[[row[t] for t in bucket] for bucket in window] for window in captions], dtype=np.int32)
    vectors = _embed_with_store(path.parent / f"text_vectors_{encoder.name}.npz", texts, encoder, log)
    np.savez(path, caption_ids=ids, embeddings=vectors, texts=np.array(texts))
    log(f"captions of {len(captions)} windows → {path}")


def _embed_with_store(store: Path, texts: list[str], encoder: TextEncoder, log: Log) -> np.ndarray:
    """Vectors for ``texts``, embedding only those not in the persistent text → vector store.

    Rebuilt data (a new converter, a new split) mostly yields the same captions again, and embedding
    thousands of captions costs many CPU minutes, so every vector ever computed is kept.
    """
    known: dict[str, np.ndarray] = {}
    if store.is_file():
        with np.load(store) as data:
            known = dict(zip((str(t) for t in data["texts"]), data["vectors"]))
    missing = [t for t in texts if t not in known]
    log(f"embedding {len(missing)} new captions of {len(texts)} with {encoder.name} …")
    for start in range(0, len(missing), 256):
        chunk = missing[start:start + 256]
        known.update(zip(chunk, encoder.encode(chunk).numpy().astype(np.float32)))
    if missing:
        names = list(known)
        np.savez(store, texts=np.array(names), vectors=np.stack([known[t] for t in names]))
    return np.stack([known[t] for t in texts]).astype(np.float32)
