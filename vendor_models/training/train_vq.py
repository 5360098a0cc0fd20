"""``intermask train vq``: train the motion VQ-VAE on the real data, resumably.

Fixed seeds (batches depend only on seed and step), AdamW with linear warm-up and ×0.1 steps at 70 %
and 85 % of training, gradient clipping, losses logged to stdout and ``log.jsonl``. ``last.pt`` is
rewritten atomically every ``save_every`` steps (so it is always loadable, e.g. by the transformer
engineer mid-run) and ``best.pt`` keeps the lowest validation MPJPE. ``--minutes`` bounds wall time:
progress is then max(step/steps, time/budget), and the learning-rate steps follow that progress.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.build import load_split
from ..models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ..models.vq import VQVAE
from ..models.vq.config import VQTrainConfig, config_to_dict, preset
from ..models.vq.losses import vq_losses
from ..models.vq.persist import load_vq, vq_checkpoint
from .datasets import SEGMENT_FRAMES, WindowSet, check_stats, feature_stats, person_sequences
from .vq_eval import evaluate_sequences, evaluate_vq

EVAL_STRIDE = 32


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="intermask train vq", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small", help="preset name (small, paper)")
    parser.add_argument("--steps", type=int, help="override the preset's step count")
    parser.add_argument("--minutes", type=float, help="stop (and schedule the learning rate) by wall time")
    parser.add_argument("--out", type=Path, help="run folder (default runs/vq_<config>)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--cache", type=Path, help="clip cache folder (default: the project cache)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default from the preset)")
    parser.add_argument("--evaluate", type=Path, metavar="CHECKPOINT",
                        help="only evaluate a VQ checkpoint on the val and test splits and print JSON")
    return parser.parse_args(argv)


def evaluate_checkpoint(path: Path, cache: Path | None) -> dict[str, Any]:
    """Window and whole-segment MPJPE plus code usage of a checkpoint on the val and test splits."""
    model, ckpt = load_vq(path)
    mean, std = model.mean.numpy(), model.std.numpy()
    report: dict[str, Any] = {"checkpoint": str(path), "steps": ckpt.meta.get("steps"),
                              "wall_time_s": ckpt.meta.get("wall_time_s")}
    for name in ("val", "test"):
        seqs = person_sequences(load_split(name, cache=cache), hop=SEGMENT_FRAMES - 1, mirrored=False)
        windows = WindowSet.build(seqs, mean, std, 64, EVAL_STRIDE)
        report[name] = {"windows": evaluate_vq(model, windows),
                        "segments": evaluate_sequences(model, windows.sequences)}
    return report


def learning_rate(tcfg: VQTrainConfig, step: int, progress: float) -> float:
    """Linear warm-up over ``warmup_steps``, then ×0.1 at each milestone fraction of progress."""
    scale = min(1.0, (step + 1) / max(1, tcfg.warmup_steps))
    return tcfg.lr * scale * 0.1 ** sum(progress >= m for m in tcfg.milestones)


def load_windows(tcfg: VQTrainConfig, out: Path, cache: Path | None) -> tuple[dict[str, WindowSet], np.ndarray, np.ndarray, dict[str, Any]]:
    """Train/val/test window sets, normalisation (computed once from train, saved as OUT/norm.npz)."""
    paths = {name: load_split(name, cache=cache) for name in ("train", "val", "test")}
    train_seqs = person_sequences(paths["train"])
    norm_file = out / "norm.npz"
    if norm_file.is_file():
        with np.load(norm_file) as stats:
            mean, std = stats["mean"], stats["std"]
        check_stats(mean, std, str(norm_file))
    else:
        mean, std = feature_stats(train_seqs)
        np.savez(norm_file, mean=mean, std=std)
    sets = {"train": WindowSet.build(train_seqs, mean, std, tcfg.window, tcfg.stride)}
    for name in ("val", "test"):
        seqs = person_sequences(paths[name], hop=SEGMENT_FRAMES - 1, mirrored=False)
        sets[name] = WindowSet.build(seqs, mean, std, tcfg.window, EVAL_STRIDE)
    data = {name: {"clips": [p.stem for p in paths[name]], "sequences": len(sets[name].sequences),
                   "windows": len(sets[name])} for name in paths}
    return sets, mean, std, data


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.evaluate:
        torch.set_num_threads(args.threads or 1)
        try:
            print(json.dumps(evaluate_checkpoint(args.evaluate, args.cache), indent=2))
        except CheckpointError as exc:
            print(f"error: {exc}")
            return 1
        return 0
    try:
        chosen = preset(args.config)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    tcfg = replace(chosen.train, steps=args.steps) if args.steps else chosen.train
    out = args.out or Path("runs") / f"vq_{args.config}"
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads or tcfg.threads)
    torch.manual_seed(tcfg.seed)

    sets, mean, std, data = load_windows(tcfg, out, args.cache)
    print("data: " + ", ".join(f"{k} {v['windows']} windows / {v['sequences']} sequences" for k, v in data.items()), flush=True)
    model = VQVAE(chosen.model)
    model.set_normalisation(torch.from_numpy(mean), torch.from_numpy(std))
    optimiser = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, betas=(0.9, 0.99), weight_decay=tcfg.weight_decay)
    step, wall, best = 0, 0.0, float("inf")
    if args.resume and (out / "last.pt").is_file():
        try:
            ckpt = load_checkpoint(out / "last.pt", kind="vq", with_train_state=True)
            model.load_state_dict(ckpt.state)
            state = ckpt.train_state or {}
            optimiser.load_state_dict(state["optimizer"])
            step, wall, best = int(state["step"]), float(state["wall_time_s"]), float(state["best_val_mpjpe_mm"])
        except (CheckpointError, KeyError, RuntimeError, ValueError) as exc:
            print(f"error: cannot resume from {out / 'last.pt'}: {exc}")
            return 1
        print(f"resumed at step {step} ({wall:.0f} s so far)", flush=True)
    print(f"model: {sum(p.numel() for p in model.parameters()):,} parameters; training {tcfg.steps} steps"
          + (f" or {args.minutes} min" if args.minutes else ""), flush=True)

    base_meta = {"config_name": args.config, "train_config": config_to_dict(tcfg), "seed": tcfg.seed, "data": data}

    def meta(extra: dict[str, Any]) -> dict[str, Any]:
        return {**base_meta, "steps": step, "wall_time_s": round(wall, 1), "best_val_mpjpe_mm": best, **extra}

    def save_last() -> None:
        state = {"step": step, "wall_time_s": wall, "best_val_mpjpe_mm": best, "optimizer": optimiser.state_dict()}
        save_checkpoint(out / "last.pt", vq_checkpoint(model, meta({}), state))

    log = (out / "log.jsonl").open("a", encoding="utf-8")
    model.train()
    start = time.perf_counter() - wall
    progress = 0.0
    while progress < 1.0:
        torch.manual_seed(tcfg.seed + step)                 # dropout noise reproducible across resumes
        lr = learning_rate(tcfg, step, progress)
        for group in optimiser.param_groups:
            group["lr"] = lr
        batch = torch.from_numpy(sets["train"].sample(tcfg.batch_size, tcfg.seed, step))
        out_fwd = model(batch)
        losses = vq_losses(model, batch, out_fwd)
        optimiser.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
        optimiser.step()
        step += 1
        wall = time.perf_counter() - start
        progress = max(step / tcfg.steps, wall / (60.0 * args.minutes) if args.minutes else 0.0)
        record: dict[str, Any] = {}
        if step % tcfg.log_every == 0 or progress >= 1.0:
            record = {"step": step, "wall_s": round(wall, 1), "lr": lr,
                      **{k: round(float(v.detach()), 5) for k, v in losses.items()},
                      "perplexity": round(float(out_fwd.quant.perplexity), 1),
                      "codes_used_batch": round(float(out_fwd.quant.used_fraction), 3)}
        if step % tcfg.eval_every == 0 or progress >= 1.0:
            val = evaluate_vq(model, sets["val"])
            record = {**record, "step": step, "wall_s": round(wall, 1), **{f"val_{k}": v for k, v in val.items()}}
            if val["mpjpe_mm"] < best:
                best = val["mpjpe_mm"]
                save_checkpoint(out / "best.pt", vq_checkpoint(model, meta({"val": val})))
        if record:
            print(json.dumps(record), flush=True)
            log.write(json.dumps(record) + "\n")
            log.flush()
        if step % tcfg.save_every == 0 or progress >= 1.0:
            save_last()
    log.close()

    best_ckpt = load_checkpoint(out / "best.pt", kind="vq")
    model.load_state_dict(best_ckpt.state)
    results = {name: evaluate_vq(model, sets[name]) for name in ("val", "test")}
    summary = {"best_step": best_ckpt.meta["steps"], "steps": step, "wall_time_s": round(wall, 1), **results}
    save_checkpoint(out / "best.pt", vq_checkpoint(model, {**best_ckpt.meta, "final_eval": summary}))
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print("final: " + json.dumps(summary), flush=True)
    return 0
