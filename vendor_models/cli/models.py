"""``intermask models``: the models you can generate with, in the user-data model store.

    intermask models list
    intermask models import-official DIR --clip ViT-L-14-336px.pt --stats STATS_DIR [--name NAME] [--trans NAME]
    intermask models check-official REFDIR --model NAME [--clip FILE]
    intermask models remove NAME

``import-official`` converts the authors' release (downloaded by you, non-commercial) into one model folder;
``check-official`` recomputes the official code's reference outputs with it. Bad input is one line on stderr
and exit code 2; a check above tolerance exits 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..motion import model_store

TOLERANCE = "atol 1e-4 + rtol 1e-5 for floats, exact for ids"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intermask models", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the built-in model and every imported one")
    imp = sub.add_parser("import-official", help="convert the official InterMask release into a model folder")
    imp.add_argument("release", type=Path, help="the downloaded release folder (it holds checkpoints/)")
    imp.add_argument("--clip", type=Path, required=True, help="OpenAI's ViT-L-14-336px.pt (or a plain state dict)")
    imp.add_argument("--stats", type=Path, required=True, help="folder with global_mean.npy and global_std.npy")
    imp.add_argument("--name", default=None, help="model name in the store (default: intermask-official)")
    imp.add_argument("--trans", default=None, help="transformer folder under checkpoints/interhuman (default: trans_default)")
    check = sub.add_parser("check-official", help="recompute official reference outputs with an imported model")
    check.add_argument("refdir", type=Path, help="folder of reference files laid out like the test fixture")
    check.add_argument("--model", required=True, help="name of the imported official model")
    check.add_argument("--clip", type=Path, help="CLIP file that made clip_text_reference.pt (default: the model's)")
    remove = sub.add_parser("remove", help="delete an imported model")
    remove.add_argument("name")
    return parser


def _list() -> int:
    print(f"models folder: {model_store.models_dir()} (set {model_store.ENV_VAR} to move it)")
    builtin = model_store.find_model(model_store.BUILTIN)
    print(f"  {model_store.BUILTIN:<24} {builtin.card.get('name', 'built-in')} (shipped, CMU data)")
    for entry in model_store.list_models():
        notice = "  NON-COMMERCIAL" if entry.non_commercial else ""
        print(f"  {entry.name:<24} {entry.kind}{notice}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from ..models.official.importer import DEFAULT_NAME, DEFAULT_TRANSFORMER, import_official

    result = import_official(args.release, args.clip, args.stats, name=args.name or DEFAULT_NAME,
                             transformer=args.trans or DEFAULT_TRANSFORMER, progress=lambda line: print(line, flush=True))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"imported {result.folder.name} into {result.folder} (CLIP: {result.clip_identity})")
    print("licence: non-commercial use only (trained on InterHuman, CC BY-NC-SA 4.0); do not redistribute")
    return 0


def _check(args: argparse.Namespace) -> int:
    from ..models.official.folder_check import check_model_folder
    from ..models.official.model_folder import load_official_model

    entry = model_store.find_model(args.model)
    if entry.kind != model_store.OFFICIAL_KIND:
        raise model_store.ModelStoreError(f"{args.model!r} is not an imported official model (kind {entry.kind!r})")
    lines = check_model_folder(args.refdir, load_official_model(entry.folder, "cpu"), args.clip)
    width = max(len(line.name) for line in lines)
    for line in lines:
        verdict = ("ok" if line.passed else "FAIL") if line.required else ("equal" if line.passed else "differs")
        print(f"{line.name:<{width}}  max error {line.error:<11.3g} {verdict:<7} {line.note}")
    failed = [line.name for line in lines if line.required and not line.passed]
    checked = sum(line.required for line in lines)
    print(f"{checked - len(failed)} of {checked} outputs within tolerance ({TOLERANCE})"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from ..models.checkpoint import CheckpointError
    from ..models.official.options import OfficialReleaseError
    from ..models.text.clip_tower import ClipWeightsError

    try:
        if args.command == "list":
            return _list()
        if args.command == "remove":
            print(f"removed {model_store.remove_model(args.name)}")
            return 0
        if args.command == "import-official":
            return _import(args)
        return _check(args)
    except (model_store.ModelStoreError, OfficialReleaseError, ClipWeightsError, CheckpointError,
            FileNotFoundError) as exc:
        print(f"intermask models {args.command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"intermask models {args.command}: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 2
