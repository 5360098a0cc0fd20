"""Where imported models live, and what is in them (standard library only).

One folder per model, inside ONE user-data folder that the command line and the Blender add-on share, so a
model imported once is offered everywhere. It is never inside the repository or the extension folder:
imported models (above all the official InterMask weights, which are non-commercial and may not be
redistributed) must not end up in a build, a commit or an extension update. The add-on lists models without
torch, so this module is part of the shared ``motion`` package.

Location: ``$INTERMASK_MODELS_DIR`` when set; otherwise the platform's user-data folder —
``%APPDATA%\\intermask\\models`` (Windows), ``~/Library/Application Support/intermask/models`` (macOS),
``$XDG_DATA_HOME/intermask/models`` or ``~/.local/share/intermask/models`` (elsewhere).

A model folder holds ``model.json`` (its card: ``name``, ``kind``, ``licence``…) next to its weights.
Folders whose name starts with ``.`` are imports in progress and are never listed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_VAR = "INTERMASK_MODELS_DIR"
CARD_NAME = "model.json"
#: The model shipped with the code; ``--model builtin`` (or no ``--model``) selects it.
BUILTIN = "builtin"
#: ``kind`` of a folder made by ``intermask models import-official``.
OFFICIAL_KIND = "official-intermask"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class ModelStoreError(ValueError):
    """A model name that is not valid, not there, or already taken; the message is for the user."""


@dataclass(frozen=True)
class ModelEntry:
    """One model the user can pick: its name, folder and card."""

    name: str
    folder: Path
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.card.get("kind", "intermask"))

    @property
    def non_commercial(self) -> bool:
        return bool(self.card.get("non_commercial", False))

    @property
    def licence(self) -> str:
        """The card's licence notice, one paragraph."""
        return str(self.card.get("licence", ""))


def models_dir() -> Path:
    """The user-data folder that holds imported models (it may not exist yet)."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "intermask" / "models"


def builtin_folder() -> Path:
    """The shipped model's folder (next to this package, in the repository or the extension)."""
    return Path(__file__).resolve().parents[1] / "checkpoints" / "default"


def check_name(name: str) -> str:
    """``name`` if it can be a folder name on every platform, else :class:`ModelStoreError`."""
    if not _NAME.fullmatch(name) or name == BUILTIN:
        raise ModelStoreError(f"model name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
                              f"starting with a letter or digit (and not {BUILTIN!r})")
    return name


def read_card(folder: Path) -> dict[str, Any]:
    """A folder's ``model.json`` as a dict; ``{}`` when it is missing or not a JSON object."""
    try:
        card = json.loads((folder / CARD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def list_models(root: Path | None = None) -> list[ModelEntry]:
    """Every complete model in the store (a folder with a card), sorted by name."""
    root = models_dir() if root is None else root
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []
    return [ModelEntry(p.name, p, read_card(p)) for p in folders if (p / CARD_NAME).is_file()]


def find_model(name: str, root: Path | None = None) -> ModelEntry:
    """The model called ``name`` (:data:`BUILTIN` is the shipped one); an error lists what there is."""
    if name == BUILTIN:
        return ModelEntry(BUILTIN, builtin_folder(), read_card(builtin_folder()))
    root = models_dir() if root is None else root
    for entry in list_models(root):
        if entry.name == name:
            return entry
    known = ", ".join([BUILTIN, *(e.name for e in list_models(root))])
    raise ModelStoreError(f"no model named {name!r} in {root} (available: {known})")


def model_folder(name: str | None) -> Path | None:
    """The folder to hand the worker for ``--model NAME``; None (the worker's default) for the built-in."""
    if not name or name == BUILTIN:
        return None
    return find_model(name).folder


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model NAME`` (from the store) or ``--checkpoint FOLDER``, for every command that runs a model."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--model", help=f"model name, see `intermask models list` (default: {BUILTIN})")
    group.add_argument("--checkpoint", type=Path, help="model folder by path (default: the built-in model)")


def chosen_folder(args: argparse.Namespace) -> Path | None:
    """The folder :func:`add_model_arguments` selected; None means the built-in model."""
    return args.checkpoint if args.checkpoint is not None else model_folder(args.model)


def free_folder(name: str, root: Path | None = None) -> Path:
    """Where model ``name`` would go; refuses an invalid name or one that is already taken."""
    root = models_dir() if root is None else root
    final = root / check_name(name)
    if final.exists():
        raise ModelStoreError(f"a model named {name!r} already exists in {root}; "
                              f"remove it first (intermask models remove {name}) or choose another --name")
    return final


def staging_folder(name: str, root: Path | None = None) -> tuple[Path, Path]:
    """(hidden temporary folder, final folder) for writing model ``name``: write into the first, then
    :func:`publish` it, so a reader never sees half a model."""
    final = free_folder(name, root)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".importing-{name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    return staging, final


def publish(staging: Path, final: Path) -> Path:
    """Move a finished staging folder into place in one rename (same file system)."""
    if final.exists():
        raise ModelStoreError(f"a model named {final.name!r} appeared in {final.parent} meanwhile; nothing was changed")
    staging.rename(final)
    return final


def remove_model(name: str, root: Path | None = None) -> Path:
    """Delete model ``name`` from the store: renamed away first, so it disappears from lists at once."""
    if name == BUILTIN:
        raise ModelStoreError("the built-in model is part of the code and cannot be removed")
    entry = find_model(name, root)
    doomed = entry.folder.with_name(f".removing-{entry.name}-{uuid.uuid4().hex[:8]}")
    entry.folder.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)
    return entry.folder
