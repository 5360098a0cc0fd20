"""`intermask eval`: score a checkpoint on the test split; `intermask eval train-evaluator` trains the evaluator.

    intermask eval --checkpoint default --json [--quick] [--out DIR] [--card] [--steps N] [--guidance G]

writes ``eval.json``, ``EVAL.md`` and ``metrics_vs_steps.png`` / ``metrics_vs_guidance.png`` to ``--out``
(default ``out/eval/<checkpoint>``); ``--json`` also prints the JSON; ``--card`` copies EVAL.md into the
checkpoint folder for its model card. ``--quick`` (a few minutes on a 2-core CPU) uses fewer windows,
replications and sweep points; ``--steps`` / ``--guidance`` score other sampler settings than the defaults.
The settings used are recorded in the JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from ..evaluation.evaluator import EVALUATOR_DIR, EvaluatorError, load_evaluator
from ..evaluation.report import markdown, plots
from ..evaluation.suite import FULL, QUICK, run
from ..models.checkpoint import CheckpointError
from ..motion.clip_file import ClipError


def _checkpoint_dir(name: str) -> Path:
    from ..generation.generator import DEFAULT_CHECKPOINT
    if name == "default":
        return DEFAULT_CHECKPOINT
    path = Path(name)
    return path if path.is_dir() else DEFAULT_CHECKPOINT.parent / name


def evaluate(args: argparse.Namespace) -> int:
    from ..evaluation.train_evaluator import sentence_encoder
    from ..generation.generator import GenerationError, Generator

    folder = _checkpoint_dir(args.checkpoint)
    out = args.out or Path("out") / "eval" / folder.name
    log = (lambda message: print(message, file=sys.stderr)) if args.json else print
    started = time.perf_counter()
    try:
        evaluator, info = load_evaluator(args.evaluator)
        generator = Generator.load(folder, device=args.device)
        encoder = sentence_encoder()
        settings = QUICK if args.quick else FULL
        chosen = {"steps": args.steps, "guidance": args.guidance}
        settings = replace(settings, **{key: value for key, value in chosen.items() if value is not None})
        result = run(generator, generator.vq, evaluator, encoder, settings, log)
    except (EvaluatorError, GenerationError, CheckpointError, ClipError) as exc:
        print(f"intermask eval: {exc}", file=sys.stderr)
        return 2
    result.update({"checkpoint": str(folder), "quick": args.quick, "evaluator": info.get("best", {}),
                   "wall_time_s": round(time.perf_counter() - started, 1)})
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    text = markdown(result, info)
    (out / "EVAL.md").write_text(text, encoding="utf-8")
    written = plots(result, out)
    if args.card:
        shutil.copyfile(out / "EVAL.md", folder / "EVAL.md")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(text)
    log(f"wrote {out / 'eval.json'}, {out / 'EVAL.md'}, " + ", ".join(str(p) for p in written))
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["train-evaluator"]:
        from ..evaluation.train_evaluator import main as train_main
        return train_main(argv[1:])
    parser = argparse.ArgumentParser(prog="intermask eval", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="default", help="'default', a folder, or a name under checkpoints/")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--quick", action="store_true", help="fewer windows/replications: a few minutes on CPU")
    parser.add_argument("--out", type=Path, help="output folder (default out/eval/<checkpoint>)")
    parser.add_argument("--card", action="store_true", help="also copy EVAL.md into the checkpoint folder")
    parser.add_argument("--evaluator", type=Path, default=EVALUATOR_DIR)
    parser.add_argument("--device", default="cpu", help="generator device: cpu (default), cuda, mps or auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, help="sampling steps of the table's rows (default: the sampler's)")
    parser.add_argument("--guidance", type=float, help="guidance of the table's rows (default: the sampler's)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    return evaluate(args)
