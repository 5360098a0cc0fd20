"""`intermask react`: generate person B reacting to an animated partner (the code is in :mod:`headless`)."""

from __future__ import annotations

from .generate import main_for


def main(argv: list[str]) -> int:
    return main_for("react", argv)
