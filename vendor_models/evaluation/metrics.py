"""InterGen's text-to-motion metrics on evaluator embeddings, with replications and 95 % intervals (numpy only).

Formulas follow InterGen's ``utils/metrics.py`` (reference §3) so the code path is the same one the field
uses; the numbers are NOT comparable with published InterHuman numbers, because our evaluator, data and test
set differ. Conventions kept from InterGen: embeddings are scaled by ``EMB_SCALE`` = 6 for FID and
Diversity (Diversity divides the scaled difference by 2), R-precision and MM-Dist use unscaled Euclidean
distances, MultiModality is InterGen's unscaled mean pair distance (InterMask reports 3× that).

Our choices for a small test set (documented again in the evaluation report):

- R-precision batch size ``R_PRECISION_BATCH`` = 16 instead of InterGen's 96: our test split has a few
  dozen windows, not 1 098 clips. Chance level is 1/16, 2/16, 3/16 (InterGen's is 1/96, ...), so our
  R-precision is much higher than InterHuman's for the same skill; batches come from a random
  permutation and incomplete batches are dropped, as InterGen does; the evaluation averages 10 such
  permutations per replication (``R_PRECISION_PERMUTATIONS``) so that no window is left out.
- Diversity draws ``DIVERSITY_PAIRS`` = 300 pairs with replacement (i ≠ j) because we have fewer than 300
  samples; with few samples it is noisier.
- FID on few samples is biased upward (the covariance estimate is noisy), so only compare FIDs computed on
  the same test windows with the same evaluator; GT-vs-GT is reported as the floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EMB_SCALE = 6.0
R_PRECISION_BATCH = 16
R_PRECISION_PERMUTATIONS = 10
DIVERSITY_PAIRS = 300
MULTIMODALITY_PAIRS = 10


def distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances [N, M] between rows of ``a`` [N, D] and ``b`` [M, D]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    sq = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(sq, 0.0))


def r_precision(text: np.ndarray, motion: np.ndarray, rng: np.random.Generator,
                batch_size: int = R_PRECISION_BATCH, top_k: int = 3, permutations: int = 1) -> np.ndarray:
    """Top-1..k retrieval accuracy [k] of each text's own motion among a random batch of ``batch_size``.

    Row i of ``text`` belongs to row i of ``motion``. With fewer rows than ``batch_size`` one batch of all
    rows is used; otherwise the leftover rows of the permutation are dropped (InterGen's ``drop_last``).
    ``permutations`` > 1 averages over several random batchings, so a small set whose size is not a
    multiple of the batch still uses every row.
    """
    n = len(text)
    if n != len(motion) or n < 2:
        raise ValueError(f"r_precision needs matching text/motion rows (≥ 2), got {len(text)} and {len(motion)}")
    size = min(batch_size, n)
    order = np.concatenate([rng.permutation(n) for _ in range(permutations)])
    hits = np.zeros(top_k)
    counted = 0
    for start in [p * n + b for p in range(permutations) for b in range(0, n - size + 1, size)]:
        idx = order[start:start + size]
        dist = distance_matrix(text[idx], motion[idx])
        # rank of the true motion = how many other motions are at least as close (ties count against it,
        # so a collapsed generator whose motions are all identical does not score perfectly)
        rank = (dist <= np.diag(dist)[:, None]).sum(1) - 1
        hits += np.array([(rank < k).sum() for k in range(1, top_k + 1)])
        counted += size
    return hits / counted


def mm_dist(text: np.ndarray, motion: np.ndarray) -> float:
    """Mean distance between each text embedding and its own motion's embedding (InterGen's MM Dist)."""
    return float(np.linalg.norm(np.asarray(text, np.float64) - np.asarray(motion, np.float64), axis=1).mean())


def _gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float64) * EMB_SCALE
    return x.mean(0), np.cov(x, rowvar=False)


def frechet(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet distance between two Gaussians; tr sqrt(C1 C2) via the symmetric form sqrt(C1) C2 sqrt(C1)."""
    vals, vecs = np.linalg.eigh(cov1)
    root1 = (vecs * np.sqrt(np.maximum(vals, 0.0))) @ vecs.T
    inner = np.linalg.eigvalsh(root1 @ cov2 @ root1)
    trace_sqrt = float(np.sqrt(np.maximum(inner, 0.0)).sum())
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt)


def fid(real: np.ndarray, generated: np.ndarray) -> float:
    """FID between two sets of motion embeddings [N, D] (× ``EMB_SCALE``, as InterGen)."""
    if len(real) < 2 or len(generated) < 2:
        raise ValueError("FID needs at least 2 embeddings on each side")
    return frechet(*_gaussian(real), *_gaussian(generated))


def diversity(motion: np.ndarray, rng: np.random.Generator, pairs: int = DIVERSITY_PAIRS) -> float:
    """Mean ‖EMB_SCALE·(a − b)/2‖ over random pairs of different samples (InterGen's Diversity)."""
    n = len(motion)
    if n < 2:
        raise ValueError("diversity needs at least 2 embeddings")
    first = rng.integers(0, n, pairs)
    second = (first + rng.integers(1, n, pairs)) % n  # never the same sample
    diff = EMB_SCALE * (np.asarray(motion[first], np.float64) - motion[second]) / 2.0
    return float(np.linalg.norm(diff, axis=1).mean())


def multimodality(motion: np.ndarray, rng: np.random.Generator, pairs: int = MULTIMODALITY_PAIRS) -> float:
    """Mean distance between pairs of generations for the same text; ``motion`` is [texts, generations, D]."""
    motion = np.asarray(motion, np.float64)
    if motion.ndim != 3 or motion.shape[1] < 2:
        raise ValueError(f"multimodality needs [texts, ≥2 generations, D], got {motion.shape}")
    texts, gens = motion.shape[:2]
    first = rng.integers(0, gens, (texts, pairs))
    second = (first + rng.integers(1, gens, (texts, pairs))) % gens
    rows = np.arange(texts)[:, None]
    return float(np.linalg.norm(motion[rows, first] - motion[rows, second], axis=-1).mean())


@dataclass(frozen=True)
class Interval:
    """Mean over replications and the half-width of its 95 % interval (1.96·std/√R, as InterGen)."""

    mean: float
    ci95: float
    replications: int

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.ci95:.3f}" if self.replications > 1 else f"{self.mean:.3f}"


def summarize(values: list[float] | np.ndarray) -> Interval:
    """Collapse per-replication values into an :class:`Interval`."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        raise ValueError("no replications to summarize")
    ci = 1.96 * v.std() / np.sqrt(v.size) if v.size > 1 else 0.0
    return Interval(float(v.mean()), float(ci), int(v.size))


def wasserstein_1d(a: np.ndarray, b: np.ndarray, quantiles: int = 101) -> float:
    """W1 distance between two 1-D samples, by the mean gap between their quantile functions."""
    q = np.linspace(0.0, 1.0, quantiles)
    return float(np.abs(np.quantile(np.asarray(a, np.float64), q) - np.quantile(np.asarray(b, np.float64), q)).mean())
