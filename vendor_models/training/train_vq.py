"""``intermask train vq``: train the motion VQ-VAE on the real data, resumably and exactly.

Fixed seeds: the batch, the dropout noise and the quantiser's dead-code re-seeding of step ``s`` depend
only on (seed, s), so there is no random state to carry across a restart, and a killed run resumed from
``last.pt`` (model, codebook, optimiser, step, wall time, best-so-far, configs) continues bit for bit
(``tests/test_vq_training.py``). AdamW with linear warm-up and ×0.1 steps at fractions of ``steps``,
gradient clipping, losses logged to stdout and ``log.jsonl``. ``last.pt`` is rewritten atomically every
``save_every`` steps; ``best.pt`` keeps the lowest validation MPJPE (64-frame windows of every held-out
person). Every ``report_every`` steps ``report.jsonl`` gets the figure the project is judged by, measured
as ``intermask eval`` measures it (``vq_report``): MPJPE, root trajectory and pose error, reconstruction
FID on the val and test pair windows. ``--init`` warm-starts from a trained VQ-VAE of the same shape.
``--minutes`` bounds wall time instead (progress = max(step/steps, time/budget)): not reproducible.
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
from ..models.vq.config import (
    VQConfig,
    VQTrainConfig,
    config_from_dict,
    config_to_dict,
    preset,
)
from ..models.vq.losses import vq_losses
from ..models.vq.persist import load_vq, vq_checkpoint
from .datasets import (
    SEGMENT_FRAMES,
    WindowSet,
    check_stats,
    feature_stats,
    person_sequences,
)
from .vq_eval import evaluate_sequences, evaluate_vq

EVAL_STRIDE = 32


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="intermask train vq", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small", help="preset name (small, small_long, paper)")
    parser.add_argument("--steps", type=int, help="override the preset's step count (also on --resume)")
    parser.add_argument("--minutes", type=float, help="stop (and schedule the learning rate) by wall time")
    parser.add_argument("--until-step", type=int, help="stop after this step (the schedule is unchanged)")
    parser.add_argument("--out", type=Path, help="run folder (default runs/vq_<config>)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt with its configs")
    parser.add_argument("--init", type=Path, metavar="CHECKPOINT",
                        help="start from this VQ-VAE's weights, codebook and normalisation (same shape)")
    parser.add_argument("--cache", type=Path, help="clip cache folder (default: the project cache)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default from the preset)")
    parser.add_argument("--evaluate", type=Path, metavar="CHECKPOINT",
                        help="only evaluate a VQ checkpoint on the val and test splits and print JSON")
    parser.add_argument("--progress", type=Path, metavar="RUN",
                        help="only print a run folder's held-out curve and projection, and plot it")
    return parser.parse_args(argv)


def evaluate_checkpoint(path: Path, cache: Path | None) -> dict[str, Any]:
    """Window and whole-segment MPJPE, code usage, and the ``intermask eval`` row of a checkpoint."""
    from .vq_report import HeldOutReport
    model, ckpt = load_vq(path)
    mean, std = model.mean.numpy(), model.std.numpy()
    report: dict[str, Any] = {"checkpoint": str(path), "steps": ckpt.meta.get("steps"),
                              "wall_time_s": ckpt.meta.get("wall_time_s")}
    pairs = HeldOutReport(cache)(model)
    for name in ("val", "test"):
        seqs = person_sequences(load_split(name, cache=cache), hop=SEGMENT_FRAMES - 1, mirrored=False)
        windows = WindowSet.build(seqs, mean, std, 64, EVAL_STRIDE)
        report[name] = {"windows": evaluate_vq(model, windows),
                        "segments": evaluate_sequences(model, windows.sequences), "pairs": pairs[name]}
    return report


def learning_rate(tcfg: VQTrainConfig, step: int, progress: float) -> float:
    """Linear warm-up over ``warmup_steps``, then ×0.1 at each milestone fraction of progress."""
    scale = min(1.0, (step + 1) / max(1, tcfg.warmup_steps))
    return tcfg.lr * scale * 0.1 ** sum(progress >= m for m in tcfg.milestones)


def load_windows(tcfg: VQTrainConfig, out: Path, cache: Path | None,
                 stats: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[dict[str, WindowSet], np.ndarray, np.ndarray, dict[str, Any]]:
    """Train/val/test window sets and the normalisation: ``stats`` when given (a warm start keeps its
    network's), else OUT/norm.npz, else computed from train; either way saved as OUT/norm.npz."""
    paths = {name: load_split(name, cache=cache) for name in ("train", "val", "test")}
    train_seqs = person_sequences(paths["train"])
    norm_file = out / "norm.npz"
    if stats is None and norm_file.is_file():
        with np.load(norm_file) as saved:
            stats = saved["mean"], saved["std"]
    mean, std = stats if stats is not None else feature_stats(train_seqs)
    check_stats(mean, std, str(norm_file))
    np.savez(norm_file, mean=mean, std=std)
    sets = {"train": WindowSet.build(train_seqs, mean, std, tcfg.window, tcfg.stride)}
    for name in ("val", "test"):
        seqs = person_sequences(paths[name], hop=SEGMENT_FRAMES - 1, mirrored=False)
        sets[name] = WindowSet.build(seqs, mean, std, tcfg.window, EVAL_STRIDE)
    data = {name: {"clips": [p.stem for p in paths[name]], "sequences": len(sets[name].sequences),
                   "windows": len(sets[name])} for name in paths}
    return sets, mean, std, data


def configs(args: argparse.Namespace, out: Path) -> tuple[VQConfig, VQTrainConfig, Any]:
    """Network and training configs (from ``last.pt`` when resuming, else the preset), plus the
    resumable checkpoint (or None). ``--steps`` overrides either."""
    ckpt = None
    if args.resume and (out / "last.pt").is_file():
        ckpt = load_checkpoint(out / "last.pt", kind="vq", with_train_state=True)
        model_cfg = config_from_dict(VQConfig, ckpt.config)
        tcfg = config_from_dict(VQTrainConfig, ckpt.meta["train_config"])
    else:
        chosen = preset(args.config)
        model_cfg, tcfg = chosen.model, chosen.train
    return model_cfg, replace(tcfg, steps=args.steps) if args.steps else tcfg, ckpt


def keep_log_until(path: Path, step: int) -> None:
    """Drop log records written after ``step`` (the run died after its last save and redoes them)."""
    if path.is_file():
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and json.loads(ln)["step"] <= step]
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
        tmp.replace(path)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.progress:
        from .vq_progress import summarise
        print(summarise(args.progress))
        return 0
    if args.evaluate:
        torch.set_num_threads(args.threads or 1)
        try:
            print(json.dumps(evaluate_checkpoint(args.evaluate, args.cache), indent=2))
        except CheckpointError as exc:
            print(f"error: {exc}")
            return 1
        return 0
    out = args.out or Path("runs") / f"vq_{args.config}"
    out.mkdir(parents=True, exist_ok=True)
    try:
        model_cfg, tcfg, resume = configs(args, out)
        init = load_checkpoint(args.init, kind="vq") if args.init and resume is None else None
    except (ValueError, CheckpointError, KeyError) as exc:
        print(f"error: {exc}")
        return 2
    torch.set_num_threads(args.threads or tcfg.threads)
    torch.manual_seed(tcfg.seed)

    init_stats = (init.mean, init.std) if init is not None and init.mean is not None and init.std is not None else None
    sets, mean, std, data = load_windows(tcfg, out, args.cache, init_stats)
    print("data: " + ", ".join(f"{k} {v['windows']} windows / {v['sequences']} sequences" for k, v in data.items()), flush=True)
    model = VQVAE(model_cfg)
    model.set_normalisation(torch.from_numpy(mean), torch.from_numpy(std))
    optimiser = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, betas=(0.9, 0.99), weight_decay=tcfg.weight_decay)
    step, wall, best = 0, 0.0, float("inf")
    base_meta: dict[str, Any] = {"config_name": args.config, "train_config": config_to_dict(tcfg), "seed": tcfg.seed,
                                 "data": data}
    try:
        if resume is not None:
            model.load_state_dict(resume.state)
            state = resume.train_state or {}
            optimiser.load_state_dict(state["optimizer"])
            step, wall, best = int(state["step"]), float(state["wall_time_s"]), float(state["best_val_mpjpe_mm"])
            base_meta = {**base_meta, **{k: resume.meta[k] for k in ("config_name", "init") if k in resume.meta}}
        elif init is not None:
            model.load_state_dict(init.state)
            base_meta["init"] = {"checkpoint": str(args.init), "steps": init.meta.get("steps")}
    except (KeyError, RuntimeError, ValueError) as exc:
        print(f"error: cannot start from {'last.pt' if resume else args.init}: {exc}")
        return 1
    if resume is not None:
        for name in ("log.jsonl", "report.jsonl"):
            keep_log_until(out / name, step)
        print(f"resumed at step {step} ({wall:.0f} s so far)", flush=True)
    print(f"model: {sum(p.numel() for p in model.parameters()):,} parameters; training {tcfg.steps} steps"
          + (f" or {args.minutes} min" if args.minutes else ""), flush=True)
    report = None
    if tcfg.report_every:
        from .vq_report import HeldOutReport
        report = HeldOutReport(args.cache)

    def meta(extra: dict[str, Any]) -> dict[str, Any]:
        return {**base_meta, "steps": step, "wall_time_s": round(wall, 1), "best_val_mpjpe_mm": best, **extra}

    def save_last() -> None:
        state = {"step": step, "wall_time_s": wall, "best_val_mpjpe_mm": best, "optimizer": optimiser.state_dict()}
        save_checkpoint(out / "last.pt", vq_checkpoint(model, meta({}), state))

    def append(name: str, record: dict[str, Any]) -> None:
        with (out / name).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    if report is not None and step == 0:                    # where the curve starts (the --init model, or noise)
        append("report.jsonl", {"step": 0, "wall_s": 0.0, **report(model)})
    model.train()
    start = time.perf_counter() - wall
    progress = step / tcfg.steps
    while progress < 1.0 and (args.until_step is None or step < args.until_step):
        torch.manual_seed(tcfg.seed + step)                 # dropout and code re-seeding reproducible across resumes
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
            append("log.jsonl", record)
        if report is not None and (step % tcfg.report_every == 0 or progress >= 1.0):
            held_out = {"step": step, "wall_s": round(wall, 1), **report(model)}
            print(json.dumps(held_out), flush=True)
            append("report.jsonl", held_out)
        if step % tcfg.save_every == 0 or progress >= 1.0:
            save_last()
    if progress < 1.0:
        save_last()
        print(f"stopped at step {step} of {tcfg.steps}; continue with --resume --out {out}", flush=True)
        return 0

    best_ckpt = load_checkpoint(out / "best.pt", kind="vq")
    model.load_state_dict(best_ckpt.state)
    results = {name: evaluate_vq(model, sets[name]) for name in ("val", "test")}
    if report is not None:
        results = {name: {**results[name], "pairs": pairs} for name, pairs in report(model).items()}
    summary = {"best_step": best_ckpt.meta["steps"], "steps": step, "wall_time_s": round(wall, 1), **results}
    save_checkpoint(out / "best.pt", vq_checkpoint(model, {**best_ckpt.meta, "final_eval": summary}))
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print("final: " + json.dumps(summary), flush=True)
    return 0
