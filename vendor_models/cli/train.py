"""``intermask train vq|transformer …``: dispatch to the trainer of one component."""

from __future__ import annotations

import importlib

TRAINERS = {"vq": "train_vq", "transformer": "train_transformer"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in TRAINERS:
        print("usage: intermask train {vq|transformer} [--config small|paper] [--steps N] [--out DIR] [--resume]")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"..training.{TRAINERS[argv[0]]}", __package__)
    return int(module.main(argv[1:]) or 0)
