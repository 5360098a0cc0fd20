"""Convert all real mocap into the clip cache and keep the fixed train/val/test split.

Cache: ``<repo>/cache/clips/`` (git-ignored) holds ``salsa_NN.npz`` (P=2, CMU 60_NN lead + 61_NN follow)
and ``single_SSS_TT.npz`` (P=1, iClone CMU subject SSS trial TT). Split (``split.json``, committed):
salsa trial 13 → val, 14 and 15 → test, the rest train; singles by trial number: ending in 9 → val,
ending in 0 → test, the rest train (about 8 % each, stable when files are added).
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..motion.clip_file import Clip, ClipError
from .bvh import BvhError
from .convert import CONVERTER_VERSION, convert

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO_ROOT / "cache" / "clips"
SPLIT_FILE = Path(__file__).resolve().parent / "split.json"
SALSA_VAL, SALSA_TEST = {13}, {14, 15}
SPLITS = ("train", "val", "test")
VERSION_FILE = "CONVERTER_VERSION"


def default_data_dir() -> Path:
    """The CMU data folder: $INTERMASK_DATA, else ``../shared/data/cmu`` beside the repository."""
    return Path(os.environ.get("INTERMASK_DATA", REPO_ROOT.parent / "shared" / "data" / "cmu"))


@dataclass(frozen=True)
class Item:
    """One clip to build: its name, source BVH file(s), split and text."""

    name: str
    files: tuple[Path, ...]
    split: str
    description: str
    trial: str


def _single_split(trial: int) -> str:
    return "val" if trial % 10 == 9 else "test" if trial % 10 == 0 else "train"


def _descriptions(data: Path) -> dict[str, str]:
    """CMU descriptions keyed "S_T" (ints as written, e.g. "5_3") from cmu_index.csv and descriptions.tsv."""
    out: dict[str, str] = {}
    index = data / "single_iclone" / "cmu_index.csv"
    if index.is_file():
        with open(index, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                try:
                    out[f"{int(row['Subject'])}_{int(row['Trial #'])}"] = row["Motion Description"].strip()
                except (KeyError, ValueError):
                    continue
    tsv = data / "descriptions.tsv"
    if tsv.is_file():
        for line in tsv.read_text(encoding="utf-8").splitlines()[1:]:
            trial, _, text = line.partition("\t")
            subject, _, number = trial.partition("_")
            if subject.isdigit() and number.isdigit():
                out.setdefault(f"{int(subject)}_{int(number)}", text.strip())
    return out


def plan(data: Path | None = None) -> list[Item]:
    """Every clip the data folder can give, with its split, in a stable order."""
    data = Path(data or default_data_dir())
    pairs_tsv = data / "pairs.tsv"
    if not pairs_tsv.is_file():
        raise ClipError(f"data folder {data} has no pairs.tsv (set INTERMASK_DATA or pass --data)")
    descriptions = _descriptions(data)
    items = []
    with open(pairs_tsv, newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle, delimiter="\t"), start=2):
            try:
                number = int(row["pair_trial"].split("/")[0].split("_")[1])
                files = (data / row["A_lead_subj60_bvh_daz"], data / row["B_follow_subj61_bvh_daz"])
                description = row["description"].strip()
            except (KeyError, IndexError, ValueError, AttributeError) as exc:
                raise ClipError(f"{pairs_tsv} line {line}: not a pair row ({exc!r})") from exc
            split = "val" if number in SALSA_VAL else "test" if number in SALSA_TEST else "train"
            items.append(Item(f"salsa_{number:02d}", files, split, description, row["pair_trial"]))
    for path in sorted((data / "single_iclone").glob("*.bvh")):
        subject, _, trial = path.stem.partition("_")
        if not (subject.isdigit() and trial.isdigit()):
            continue
        text = descriptions.get(f"{int(subject)}_{int(trial)}", "")
        items.append(Item(f"single_{path.stem}", (path,), _single_split(int(trial)), text, f"{int(subject):02d}_{int(trial):02d}"))
    return items


def quality_problem(clip: Clip) -> str | None:
    """Why a converted clip is unfit for training, or None. (Some iClone exports lost the vertical root
    translation: the pelvis then never moves up or down.)"""
    pelvis_y = clip.positions[:, :, 0, 1]
    if float(np.ptp(pelvis_y, axis=0).min()) < 1e-3:
        return "the pelvis never moves vertically (the exporter dropped the root's vertical translation)"
    return None


def build_item(item: Item, cache: Path) -> tuple[Path | None, str]:
    """Convert one item into the cache (atomically); returns (path or None, status message)."""
    clip = convert(list(item.files), meta={"name": item.name, "description": item.description,
                                           "prompt": item.description, "trial": item.trial, "split": item.split})
    problem = quality_problem(clip)
    if problem:
        return None, f"skipped {item.name}: {problem}"
    target = cache / f"{item.name}.npz"
    tmp = cache / f".{item.name}.{os.getpid()}.tmp"
    clip.save(tmp)
    os.replace(tmp, target)
    return target, f"{item.name}: {clip.num_frames} frames × {clip.num_people} people"


def write_split(items: list[Item], skipped: set[str], path: Path) -> dict[str, Any]:
    """Write split.json (only when its content changes, so the committed file stays stable)."""
    split: dict[str, Any] = {
        "rule": "salsa trial 13 val, 14-15 test, rest train; singles: trial ending in 9 val, in 0 test, rest train",
        **{name: [i.name for i in items if i.split == name and i.name not in skipped] for name in SPLITS},
        "excluded": sorted(skipped),
    }
    text = json.dumps(split, indent=1) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return split


def build(
    cache: Path | None = None, data: Path | None = None, force: bool = False, log: Any = print,
    split_file: Path | None = None,
) -> dict[str, Any]:
    """Convert every clip missing from the cache (all, with ``force`` or when the cache was built by another
    converter version) and write the split."""
    cache = Path(cache or DEFAULT_CACHE)
    cache.mkdir(parents=True, exist_ok=True)
    force = force or not _current(cache)
    items = plan(data)
    skipped: set[str] = set()
    start = time.perf_counter()
    for item in items:
        if not force and (cache / f"{item.name}.npz").is_file():
            continue
        try:
            path, message = build_item(item, cache)
        except (BvhError, ClipError) as exc:
            path, message = None, f"skipped {item.name}: {exc}"
        if path is None:
            skipped.add(item.name)
        log(message)
    if not force:
        skipped |= {i.name for i in items if not (cache / f"{i.name}.npz").is_file()}
    (cache / VERSION_FILE).write_text(f"{CONVERTER_VERSION}\n", encoding="utf-8")
    log(f"built {cache} in {time.perf_counter() - start:.1f} s")
    return write_split(items, skipped, split_file or SPLIT_FILE)


def _current(cache: Path) -> bool:
    """Whether the cache was written by this converter version."""
    version = cache / VERSION_FILE
    return version.is_file() and version.read_text(encoding="utf-8").strip() == str(CONVERTER_VERSION)


def read_split() -> dict[str, Any]:
    """The committed split (train/val/test clip names)."""
    if not SPLIT_FILE.is_file():
        raise ClipError(f"split file missing: {SPLIT_FILE} (run `intermask data build`)")
    return json.loads(SPLIT_FILE.read_text(encoding="utf-8"))


def ensure_cache(cache: Path | None = None, data: Path | None = None) -> Path:
    """The cache folder, building whatever clips of the split are missing (so a fresh clone just works)."""
    cache = Path(cache or DEFAULT_CACHE)
    split = read_split()
    wanted = [n for name in SPLITS for n in split[name]]
    if not _current(cache) or any(not (cache / f"{n}.npz").is_file() for n in wanted):
        build(cache, data, log=lambda message: None)
    return cache


def load_split(name: str, people: int | None = None, cache: Path | None = None, data: Path | None = None) -> list[Path]:
    """Clip paths of one split ("train", "val", "test"); ``people`` = 2 for pairs only, 1 for singles only."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
    folder = ensure_cache(cache, data)
    names = read_split()[name]
    if people == 2:
        names = [n for n in names if n.startswith("salsa_")]
    elif people == 1:
        names = [n for n in names if n.startswith("single_")]
    return [folder / f"{n}.npz" for n in names]
