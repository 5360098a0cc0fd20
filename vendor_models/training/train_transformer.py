"""``intermask train transformer``: train the Inter-M Transformer on tokenised real pairs, resumably.

Batches depend only on (seed, step), so a resumed run sees the same data it would have seen. AdamW with a
linear warm-up and ×1/3 at the preset's milestones; with ``--minutes`` progress is max(step/steps,
time/budget) and both the schedule and the stop follow it. Logs go to stdout and ``OUT/log.jsonl``;
``OUT/last.pt`` (resumable) is rewritten atomically every ``save_every`` steps and ``OUT/best.pt`` keeps
the lowest validation loss.
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

from ..data.build import REPO_ROOT, load_split
from ..generation.generator import DEFAULT_CHECKPOINT
from ..models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ..models.text.sentence_encoder import MiniLMEncoder, TextEncoderError
from ..models.transformer.config import ObjectiveConfig, TransformerTrainConfig, preset
from ..models.transformer.model import InterMTransformer
from ..models.transformer.objective import masked_token_loss
from ..models.transformer.persist import file_key, transformer_checkpoint
from ..models.vq.config import config_to_dict
from ..models.vq.persist import load_vq
from .token_data import TokenSet, build_token_set

TRAIN_STRIDE = 40          # frames between window starts (each window is 10 s)
VAL_STRIDE = 60
VAL_BATCHES = 8
TOKEN_CACHE = REPO_ROOT / "cache" / "transformer"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="intermask train transformer", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small", help="preset name (small, paper)")
    parser.add_argument("--steps", type=int, help="override the preset's step count")
    parser.add_argument("--minutes", type=float, help="stop (and schedule the learning rate) by wall time")
    parser.add_argument("--vq", type=Path, default=DEFAULT_CHECKPOINT / "vq.pt", help="trained VQ-VAE checkpoint")
    parser.add_argument("--out", type=Path, help="run folder (default runs/tr_<config>)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default from the preset)")
    parser.add_argument("--batch-size", type=int, help="override the preset's batch size")
    parser.add_argument("--init", type=Path, help="start from these transformer weights (e.g. a run on an "
                        "earlier VQ snapshot: most codes keep their meaning, so it is a head start)")
    parser.add_argument("--ship", type=Path, help="afterwards, install the final weights in this checkpoint folder")
    return parser.parse_args(argv)


def learning_rate(tcfg: TransformerTrainConfig, step: int, progress: float) -> float:
    """Linear warm-up, then ×1/3 at each milestone fraction of progress (InterMask's MultiStepLR)."""
    scale = min(1.0, (step + 1) / max(1, tcfg.warmup_steps))
    return tcfg.lr * scale * (1 / 3) ** sum(progress >= m for m in tcfg.milestones)


@torch.no_grad()
def validate(model: InterMTransformer, data: TokenSet, objective: ObjectiveConfig, batch_size: int) -> dict[str, float]:
    """Masked-token CE/accuracy on fixed validation batches and masks (text kept, so it is comparable)."""
    model.eval()
    fixed = replace(objective, text_drop_prob=0.0, step_unroll=0.0)
    gen = torch.Generator().manual_seed(0)
    ce, acc = [], []
    for i in range(VAL_BATCHES):
        ids, lengths, text = data.batch(np.random.default_rng([0, i]), batch_size, generic_prob=0.0)
        out = masked_token_loss(model, ids, lengths, text, fixed, gen)
        ce.append(out.ce)
        acc.append(out.accuracy)
    model.train()
    return {"val_ce": float(np.mean(ce)), "val_acc": float(np.mean(acc))}


def _restore(out: Path, model: InterMTransformer, optim: torch.optim.Optimizer) -> tuple[int, float, float]:
    """Load OUT/last.pt into model + optimiser → (step, elapsed seconds, best val CE)."""
    ckpt = load_checkpoint(out / "last.pt", kind="transformer", with_train_state=True)
    model.load_state_dict(ckpt.state)
    if ckpt.train_state is None:
        raise CheckpointError(f"checkpoint file {out / 'last.pt'} has no training state to resume from")
    optim.load_state_dict(ckpt.train_state["optimizer"])
    return int(ckpt.train_state["step"]), float(ckpt.train_state["elapsed"]), float(ckpt.train_state["best"])


def ship(run: Path, dest: Path, vq: Path) -> Path:
    """Install a run's final weights as ``dest/transformer.pt`` (no optimiser state) and record the
    training facts under ``"transformer"`` in ``dest/model.json`` (other sections are kept)."""
    ckpt = load_checkpoint(run / "last.pt", kind="transformer")
    dest.mkdir(parents=True, exist_ok=True)
    if vq.resolve() != (dest / "vq.pt").resolve():
        raise CheckpointError(f"{run / 'last.pt'} was trained on {vq}, not on {dest / 'vq.pt'}; ship them together")
    save_checkpoint(dest / "transformer.pt", ckpt)
    card_file = dest / "model.json"
    card = json.loads(card_file.read_text(encoding="utf-8")) if card_file.is_file() else {}
    card.setdefault("name", f"intermask-{ckpt.meta.get('config', 'small')}")
    card["transformer"] = {key: ckpt.meta.get(key) for key in ("config", "steps", "wall_time_s", "seed", "last_log")}
    card["transformer"].update(parameters=sum(v.numel() for v in ckpt.state.values()),
                               text_encoder=ckpt.config["text_encoder"], model=ckpt.config["model"],
                               data={k: v for k, v in ckpt.meta.get("data", {}).items() if k != "vq_meta"})
    card_file.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return dest / "transformer.pt"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        chosen = preset(args.config)
        vq, vq_ckpt = load_vq(args.vq)
        encoder = MiniLMEncoder()
    except (ValueError, CheckpointError, TextEncoderError) as exc:
        print(f"error: {exc}")
        return 2
    tcfg = chosen.train
    tcfg = replace(tcfg, steps=args.steps or tcfg.steps, batch_size=args.batch_size or tcfg.batch_size,
                   threads=args.threads or tcfg.threads)
    mcfg = replace(chosen.model, num_codes=vq.cfg.codebook_size, text_dim=encoder.dim)
    out = args.out or REPO_ROOT / "runs" / f"tr_{args.config}"
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(tcfg.threads)
    torch.manual_seed(tcfg.seed)

    train = build_token_set(load_split("train", people=2), vq, args.vq, encoder, TOKEN_CACHE, TRAIN_STRIDE, True, tcfg.seed)
    val = build_token_set(load_split("val", people=2), vq, args.vq, encoder, TOKEN_CACHE, VAL_STRIDE, False, tcfg.seed)
    assert train is not None and val is not None  # a VQ was given, so tokens exist
    model = InterMTransformer(mcfg)
    optim = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, betas=(0.9, 0.99), weight_decay=tcfg.weight_decay)
    step, elapsed, best = 0, 0.0, float("inf")
    if args.init is not None:
        try:
            model.load_state_dict(load_checkpoint(args.init, kind="transformer").state)
        except (CheckpointError, RuntimeError) as exc:
            print(f"error: cannot start from {args.init}: {exc}")
            return 2
        data_meta_init = str(args.init)
        print(f"starting from the weights of {args.init}")
    else:
        data_meta_init = None
    if args.resume and (out / "last.pt").is_file():
        step, elapsed, best = _restore(out, model, optim)
        print(f"resumed from {out / 'last.pt'} at step {step} ({elapsed / 60:.1f} min)")
    data_meta: dict[str, Any] = {"train_windows": len(train), "val_windows": len(val), "captions": len(train.texts),
                                 "vq": str(args.vq), "vq_sha1": file_key(args.vq), "vq_meta": vq_ckpt.meta,
                                 "init": data_meta_init}
    print(f"transformer {args.config}: {model.num_parameters():,} parameters, {len(train)} train windows, "
          f"{len(train.texts)} captions, batch {tcfg.batch_size}, {tcfg.threads} threads → {out}")

    def save(name: str, extra: dict[str, Any]) -> None:
        meta = {"steps": step, "wall_time_s": round(elapsed, 1), "seed": tcfg.seed, "config": args.config,
                "train": config_to_dict(tcfg), "objective": config_to_dict(chosen.objective), "data": data_meta,
                **extra}
        state = {"optimizer": optim.state_dict(), "step": step, "elapsed": elapsed, "best": best}
        save_checkpoint(out / name, transformer_checkpoint(model, encoder.name, meta, state if name == "last.pt" else None))

    model.train()
    gen = torch.Generator().manual_seed(tcfg.seed)
    budget = args.minutes * 60 if args.minutes else None
    log_file = open(out / "log.jsonl", "a", encoding="utf-8")
    window: list[float] = []
    last: dict[str, float] = {}
    started = time.perf_counter() - elapsed
    while step < tcfg.steps:
        elapsed = time.perf_counter() - started
        progress = max(step / tcfg.steps, elapsed / budget if budget else 0.0)
        if progress >= 1.0:
            break
        lr = learning_rate(tcfg, step, progress)
        for group in optim.param_groups:
            group["lr"] = lr
        gen.manual_seed(tcfg.seed * 1_000_003 + step)
        ids, lengths, text = train.batch(np.random.default_rng([tcfg.seed, step]), tcfg.batch_size)
        result = masked_token_loss(model, ids, lengths, text, chosen.objective, gen)
        optim.zero_grad(set_to_none=True)
        result.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
        optim.step()
        step += 1
        window.append(result.ce)
        if step % tcfg.log_every == 0 or step == tcfg.steps:
            elapsed = time.perf_counter() - started
            last = {"step": step, "ce": float(np.mean(window)), "acc": result.accuracy, "unroll_ce": result.unroll_ce,
                    "lr": lr, "elapsed_s": round(elapsed, 1), "it_per_s": round(step / max(elapsed, 1e-9), 3)}
            window = []
            if step % tcfg.val_every == 0:
                last.update(validate(model, val, chosen.objective, tcfg.batch_size))
                if last["val_ce"] < best:
                    best = last["val_ce"]
                    save("best.pt", {"val_ce": best, "last_log": last})
            print(json.dumps(last), flush=True)
            log_file.write(json.dumps(last) + "\n")
            log_file.flush()
        if step % tcfg.save_every == 0:
            save("last.pt", {"last_log": last})
    elapsed = time.perf_counter() - started
    final = validate(model, val, chosen.objective, tcfg.batch_size)
    last.update(final)
    if final["val_ce"] < best:
        best = final["val_ce"]
        save("best.pt", {"val_ce": best, "last_log": last})
    save("last.pt", {"last_log": last, "final": True})
    log_file.write(json.dumps({"final": True, **last}) + "\n")
    log_file.close()
    print(f"done: {step} steps in {elapsed / 60:.1f} min, val CE {final['val_ce']:.3f}, acc {final['val_acc']:.3f} → {out}")
    if args.ship is not None:
        print(f"shipped {ship(out, args.ship, args.vq)}")
    return 0
