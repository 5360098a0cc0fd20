"""The evaluation run: real test windows, generated and baseline motions, all metrics in one result dict.

Rows of the table (every one scored with the same evaluator, on the same test windows and captions):

- ``ground truth``: real test windows against a second cut of the same test clips (windows shifted by half a
  stride), the floor for FID and the ceiling for R-precision;
- ``generated``: one clip per test window from its caption (seconds = window length);
- ``reaction``: the real lead (slot 0) held fixed, the follow generated from the caption;
- ``random train``: a random real training window per test window (real motion, unrelated text);
- ``nearest by text``: the training window (of the evaluator's training windows) whose captions are most
  similar (MiniLM cosine) to the test caption;
- ``VQ reconstruction``: each test window encoded and decoded by the VQ-VAE (plus MPJPE in mm).

Replications (different caption draws and generation seeds) give the 95 % intervals; the physical metrics
are pooled over all clips of a row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..data.build import load_split
from ..motion.clip_file import Clip
from ..motion.features import POS
from ..motion.protocol import DEFAULT_GUIDANCE, DEFAULT_STEPS, FRAMES_PER_TOKEN, SamplerSettings
from .evaluator import Evaluator
from .metrics import (
    R_PRECISION_PERMUTATIONS,
    diversity,
    fid,
    mm_dist,
    multimodality,
    r_precision,
    summarize,
    wasserstein_1d,
)
from .physical import partner_distances, physical_metrics
from .train_evaluator import TRAIN_CAPTIONS, TRAIN_STRIDE
from .windows import WINDOW_FRAMES, Window, load_windows, window_features

Log = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    """How much work a run does; ``quick`` finishes in a few minutes on an idle 2-core CPU."""

    stride: int
    replications: int
    reaction_windows: int
    sweep_windows: int
    sweep_steps: tuple[int, ...]
    sweep_guidance: tuple[float, ...]
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    seed: int = 0


#: Quick: non-overlapping windows (16 on the test split), 3 replications, reaction on all, 5 sweep points
#: (steps 5/10/20 at the default guidance, guidance 1/2/4 at the default steps) on 8 windows.
QUICK = Settings(stride=120, replications=3, reaction_windows=16, sweep_windows=8, sweep_steps=(5, 10, 20),
                 sweep_guidance=(1.0, 2.0, 4.0))
#: Full: a window every 2 s (31), 5 replications, reaction on all, 9 sweep points on 16 windows.
FULL = Settings(stride=60, replications=5, reaction_windows=31, sweep_windows=16, sweep_steps=(2, 5, 10, 20, 30),
                sweep_guidance=(1.0, 1.5, 2.0, 3.0, 5.0))


class Scorer:
    """Embeds clips and texts with the evaluator and computes the InterGen metrics against the test set."""

    def __init__(self, evaluator: Evaluator, encoder: Any, windows: list[Window], reference: list[Clip], seed: int):
        self.evaluator, self.encoder, self.windows = evaluator, encoder, windows
        self.rng = np.random.default_rng(seed)
        flat = [t for w in windows for t in w.captions]
        sentences = self.sentences(flat)
        self.texts = evaluator.embed_texts(sentences).reshape(len(windows), len(windows[0].captions), -1)
        self.sentence_emb = sentences.reshape(len(windows), len(windows[0].captions), -1)
        self.real = self.embed(reference)

    def sentences(self, texts: list[str]) -> np.ndarray:
        emb = self.encoder.encode(texts)
        return (emb.detach().cpu().numpy() if isinstance(emb, torch.Tensor) else np.asarray(emb)).astype(np.float32)

    def embed(self, clips: list[Clip]) -> np.ndarray:
        """Motion embeddings of equal-length clips; longer ones are cut to the window length first."""
        cropped = [_crop(c) if c.num_frames > WINDOW_FRAMES else c for c in clips]
        return self.evaluator.embed_motions(window_features(cropped))

    def score(self, motion: np.ndarray, caption_index: np.ndarray, rows: np.ndarray | None = None) -> dict[str, float]:
        """R-precision top-1/2/3, FID vs the reference cut, MM-Dist and Diversity for one replication.

        Row i of ``motion`` belongs to window ``rows[i]`` (default: window i) and is scored against that
        window's caption number ``caption_index[i]``.
        """
        rows = np.arange(len(motion)) if rows is None else rows
        text = self.texts[rows, caption_index]
        top = r_precision(text, motion, self.rng, permutations=R_PRECISION_PERMUTATIONS)
        return {"top1": float(top[0]), "top2": float(top[1]), "top3": float(top[2]), "fid": fid(self.real, motion),
                "mm_dist": mm_dist(text, motion), "diversity": diversity(motion, self.rng)}


def _crop(clip: Clip) -> Clip:
    s = slice(0, WINDOW_FRAMES)
    return Clip(clip.positions[s], clip.rotations[s], clip.contacts[s], clip.fps, dict(clip.meta))


def _collect(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {k: vars(summarize([r[k] for r in rows])) for k in rows[0]}


def _row(scorer: Scorer, reps: list[tuple[np.ndarray, np.ndarray]], clips: list[Clip],
         real_dist: np.ndarray, rows: np.ndarray | None = None) -> dict[str, Any]:
    """Metrics of one table row from its replications (embeddings, caption picks) and its clips."""
    out: dict[str, Any] = {"metrics": _collect([scorer.score(m, c, rows) for m, c in reps])}
    physical = physical_metrics(clips)
    physical["partner_distance_w1"] = wasserstein_1d(partner_distances(clips), real_dist)
    out["physical"] = physical
    return out


def generate_clips(generator: Any, windows: list[Window], picks: np.ndarray, seed: int, steps: int,
                   guidance: float, variations: int = 1) -> list[list[Clip]]:
    """``variations`` clips per window from its picked caption (one batched call per window, own seeds)."""
    seconds = WINDOW_FRAMES / windows[0].clip.fps
    return [generator.generate(w.captions[int(k)], seconds=seconds,
                               sampler=SamplerSettings(seed + 100 * i, variations, guidance, steps)).clips
            for i, (w, k) in enumerate(zip(windows, picks))]


def react_clips(generator: Any, windows: list[Window], picks: np.ndarray, seed: int, settings: Settings) -> list[Clip]:
    """The follow generated against each window's real lead (slot 0, kept as given)."""
    return [generator.react(w.clip.person(0), w.captions[int(k)],
                            sampler=SamplerSettings(seed=seed + i, guidance=settings.guidance)).clips[0]
            for i, (w, k) in enumerate(zip(windows, picks))]


def vq_reconstruction(vq: Any, windows: list[Window]) -> tuple[list[Clip], float]:
    """Encode/decode every person of every window as generation decodes (smoothed); returns the
    reconstructed clips and MPJPE in mm."""
    from ..motion.features import clip_from_features, smooth_decoded
    feats = window_features([w.clip for w in windows])  # [B, T-1, 2, 262]
    t = feats.shape[1] // FRAMES_PER_TOKEN * FRAMES_PER_TOKEN
    x = torch.from_numpy(feats[:, :t]).permute(0, 2, 1, 3).reshape(-1, t, feats.shape[-1])
    with torch.no_grad():
        rec = smooth_decoded(vq.denormalise(vq.decode(vq.encode(vq.normalise(x)))).numpy())
    rec = rec.reshape(len(windows), 2, t, -1).transpose(0, 2, 1, 3)
    err = np.linalg.norm((rec[..., POS] - feats[:, :t, :, POS]).reshape(*rec.shape[:3], 22, 3), axis=-1)
    clips = [clip_from_features(np.concatenate([r, r[-1:]]), windows[0].clip.fps) for r in rec]
    return clips, float(err.mean() * 1000.0)


def run(generator: Any, vq: Any, evaluator: Evaluator, encoder: Any, settings: Settings, log: Log = print,
        cache: Path | None = None) -> dict[str, Any]:
    """The whole table (see module docstring) as a JSON-ready dict."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        timings[name] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()
        log(f"  {name}: {timings[name]} s")

    test_paths = load_split("test", people=2, cache=cache)
    windows = load_windows(test_paths, stride=settings.stride, seed=settings.seed)
    # the evaluator's own train windows (unaugmented): their captions' sentence vectors are already cached
    train = load_windows(load_split("train", people=2, cache=cache), stride=TRAIN_STRIDE, seed=settings.seed)
    reference = [w.clip for w in load_windows(test_paths, stride=settings.stride, seed=settings.seed,
                                              offset=settings.stride // 2)]
    scorer = Scorer(evaluator, encoder, windows, reference, settings.seed)
    real_clips = [w.clip for w in windows]
    real_dist = partner_distances(real_clips)
    n, rng = len(windows), np.random.default_rng(settings.seed)
    picks = [rng.integers(0, len(windows[0].captions), n) for _ in range(settings.replications)]
    log(f"{n} test windows of {WINDOW_FRAMES} frames, {len(train)} train windows, {settings.replications} replications")
    lap("data")

    rows: dict[str, Any] = {}
    real = scorer.embed(real_clips)
    rows["ground truth"] = _row(scorer, [(real, p) for p in picks], real_clips, real_dist)

    # One caption per window for generation, R seeds in one batched call; replication r scores variation r
    # against a caption drawn for that replication. The R generations per text also give MultiModality.
    batches = generate_clips(generator, windows, picks[0], settings.seed + 10_000, settings.steps,
                             settings.guidance, settings.replications)
    per_rep = [[b[r] for b in batches] for r in range(settings.replications)]
    embedded = [scorer.embed(clips) for clips in per_rep]
    rows["generated"] = _row(scorer, list(zip(embedded, picks)), [c for b in batches for c in b], real_dist)
    if settings.replications > 1:
        mm = multimodality(np.stack(embedded, axis=1), scorer.rng)
        rows["generated"]["metrics"]["multimodality"] = vars(summarize([mm]))
    lap("generation")

    chosen = np.linspace(0, n - 1, min(settings.reaction_windows, n)).astype(int)
    reacted = react_clips(generator, [windows[i] for i in chosen], picks[0][chosen], settings.seed + 20_000, settings)
    rows["reaction"] = _row(scorer, [(scorer.embed(reacted), picks[0][chosen])], reacted, real_dist, chosen)
    rows["reaction"]["windows"] = len(chosen)
    lap("reaction")

    train_emb = scorer.embed([w.clip for w in train])
    random_reps, random_clips = [], []
    for p in picks:
        idx = rng.integers(0, len(train), n)
        random_reps.append((train_emb[idx], p))
        random_clips = [train[i].clip for i in idx]
    rows["random train"] = _row(scorer, random_reps, random_clips, real_dist)
    train_sent = scorer.sentences([t for w in train for t in w.captions[:TRAIN_CAPTIONS]])
    train_sent = train_sent.reshape(len(train), TRAIN_CAPTIONS, -1)
    nearest_reps, nearest_clips = [], []
    for p in picks:
        query = scorer.sentence_emb[np.arange(n), p]
        idx = np.argmax(np.einsum("nd,mcd->nmc", query, train_sent).max(axis=2), axis=1)
        nearest_reps.append((train_emb[idx], p))
        nearest_clips = [train[i].clip for i in idx]
    rows["nearest by text"] = _row(scorer, nearest_reps, nearest_clips, real_dist)
    lap("baselines")

    recon, mpjpe = vq_reconstruction(vq, windows)
    rows["VQ reconstruction"] = _row(scorer, [(scorer.embed(recon), p) for p in picks], recon, real_dist)
    rows["VQ reconstruction"]["mpjpe_mm"] = mpjpe
    lap("vq")

    sweeps = sweep(generator, scorer, windows, settings, log)
    lap("sweeps")
    return {"settings": vars(settings), "windows": n, "rows": rows, "sweeps": sweeps, "timings_s": timings}


def sweep(generator: Any, scorer: Scorer, windows: list[Window], settings: Settings, log: Log) -> dict[str, Any]:
    """FID, R-precision and MM-Dist on a subset of windows against sampling steps and guidance scale.

    One generation per window and setting, same seeds for every setting, so the curves show the setting's
    effect rather than seed noise; the default (steps, guidance) point is generated once and shared.
    """
    idx = np.linspace(0, len(windows) - 1, min(settings.sweep_windows, len(windows))).astype(int)
    subset = [windows[i] for i in idx]
    picks = np.zeros(len(subset), dtype=int)
    text = scorer.texts[idx, 0]
    done: dict[tuple[int, float], dict[str, float]] = {}
    out: dict[str, Any] = {"windows": len(subset), "steps": [], "guidance": []}
    for key, values in (("steps", settings.sweep_steps), ("guidance", settings.sweep_guidance)):
        for value in values:
            point = (int(value), settings.guidance) if key == "steps" else (settings.steps, float(value))
            if point not in done:
                clips = generate_clips(generator, subset, picks, settings.seed + 30_000, point[0], point[1])
                emb = scorer.embed([b[0] for b in clips])
                top = r_precision(text, emb, scorer.rng, permutations=R_PRECISION_PERMUTATIONS)
                done[point] = {"fid": fid(scorer.real, emb), "top1": float(top[0]), "top3": float(top[2]),
                               "mm_dist": mm_dist(text, emb)}
            out[key].append({"value": value, **done[point]})
            log(f"  sweep {key}={value}: fid {done[point]['fid']:.2f} top1 {done[point]['top1']:.2f}")
    return out
