"""`intermask` subcommands that run on the model side (torch allowed, bpy never).

Each subcommand lives in its own module and is imported only when it runs, so `intermask --help` and
the cheap commands stay fast. A module listed here exposes ``main(argv: list[str]) -> int``.
"""

from __future__ import annotations

import importlib
import sys

#: subcommand → (module relative to vendor_models, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("cli.data", "real mocap → clips: `data convert A.bvh [B.bvh] --out clip.npz`, `data build` (cache + split)"),
    "caption": ("cli.caption", "describe a two-person clip in words (the training captioner; --window a:b)"),
    "preview": ("cli.preview_gif", "draw a clip (.npz) as a stick-figure GIF from the front and the top"),
    "worker": ("worker.process", "background model process for the add-on (JSON lines on stdin/stdout)"),
    "train": ("cli.train", "train a component: `train vq|transformer --config small [--steps N] [--out DIR] [--resume]`"),
    "sample": ("cli.sample", ("generate a two-person clip: `sample \"PROMPT\" --seconds 6 --out clip.npz [--react partner.npz]`; "
                              "10-60 s takes (`--segments FILE`), `--edit CLIP --frames A:B`, `--extend CLIP --seconds N`")),
    "models": ("cli.models", "imported models: `models list`, `models import-official DIR --clip F --stats D`, "
               "`models check-official REFDIR --model NAME`, `models remove NAME`"),
    "bench": ("cli.bench", "generation latency, worker cold start and peak memory (--json)"),
    "eval": ("cli.evaluate", "score a checkpoint: `eval --checkpoint default --json [--quick]`; `eval train-evaluator`"),
}


def usage() -> str:
    lines = ["usage: intermask COMMAND [ARGS]", "", "model commands:"]
    lines += [f"  {name:<12} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(usage())
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"..{COMMANDS[argv[0]][0]}", __package__)
    return int(module.main(argv[1:]) or 0)
