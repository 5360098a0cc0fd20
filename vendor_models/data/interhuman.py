"""A loader for the InterHuman dataset layout, giving the same 262-D pair features as our CMU data.

Anyone who has InterHuman (it may not be redistributed, so it is not shipped) points this at its folder:

    ROOT/motions_processed/person1/<id>.npy   T×492 float: person 1
    ROOT/motions_processed/person2/<id>.npy   T×492 float: person 2, same T
    ROOT/annots/<id>.txt                      one description per line
    ROOT/split/{train,val,test}.txt           one id per line
    ROOT/ignore_list.txt                      ids to skip (optional)

Of the 492 columns only ``[:, :66]`` (22 joint positions, Z-up metres, the same axes as Blender) and
``[:, 186:312]`` (local 6D rotations of joints 1..21, InterHuman's row order) are used, as InterGen does.
Each file pair becomes a :class:`Clip` in model space and goes through exactly the feature code our CMU
clips use (:func:`features.pair_features`: canonicalisation, contact detection, 262-D layout), with
InterGen's rules: pairs shorter than 15 frames are skipped, longer than 300 are cropped to a random
300-frame window, the people are swapped at random before canonicalisation and again afterwards, and in
training every pair is also offered mirrored (left/right swapped, texts via :func:`features.mirror_text`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..motion.canonical import facing_angle
from ..motion.clip_file import Clip
from ..motion.contacts import detect_contacts
from ..motion.features import FEATURE_DIM, mirror, pair_features
from ..motion.rotations import sixd_to_quat, yaw_quat
from ..motion.skeleton import NUM_JOINTS, blender_to_model
from .text_mirror import mirror_text

RAW_COLUMNS = 492
POSITION_COLUMNS = slice(0, NUM_JOINTS * 3)
ROTATION_COLUMNS = slice(62 * 3, 62 * 3 + (NUM_JOINTS - 1) * 6)
MIN_FRAMES = 15
MAX_FRAMES = 300
SPLITS = ("train", "val", "test")


class InterHumanError(ValueError):
    """A missing or malformed part of an InterHuman folder; the message names the file."""


def read_person(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One ``motions_processed`` file → model-space positions [T,22,3] and local quaternions [T,22,4].

    The root rotation is not in the file; it is set to the yaw of the hips/shoulders, the same choice
    :func:`features.clip_from_features` makes (the 262-D feature does not store it either).
    """
    try:
        raw = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InterHumanError(f"{path}: not a readable .npy file ({exc})") from exc
    if raw.ndim != 2 or raw.shape[1] != RAW_COLUMNS:
        raise InterHumanError(f"{path}: expected a T×{RAW_COLUMNS} array, got shape {raw.shape}")
    raw = raw.astype(np.float64)
    if not np.isfinite(raw[:, POSITION_COLUMNS]).all() or not np.isfinite(raw[:, ROTATION_COLUMNS]).all():
        raise InterHumanError(f"{path}: positions or rotations contain NaN or infinity")
    frames = raw.shape[0]
    positions = blender_to_model(raw[:, POSITION_COLUMNS].reshape(frames, NUM_JOINTS, 3))
    rotations = np.empty((frames, NUM_JOINTS, 4))
    rotations[:, 1:] = sixd_to_quat(raw[:, ROTATION_COLUMNS].reshape(frames, NUM_JOINTS - 1, 6))
    rotations[:, 0] = yaw_quat(facing_angle(positions))
    return positions, rotations


def read_lines(path: Path) -> list[str]:
    """Non-empty, stripped lines of a text file (ids or descriptions)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InterHumanError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class InterHumanPair:
    """One interaction of the dataset: its id, the two person files and its descriptions."""

    name: str
    person1: Path
    person2: Path
    texts: tuple[str, ...]
    num_frames: int

    def clip(self) -> Clip:
        """Both people as one model-space clip (not canonicalised), with foot contacts detected."""
        pos1, rot1 = read_person(self.person1)
        pos2, rot2 = read_person(self.person2)
        if len(pos1) != len(pos2):
            raise InterHumanError(f"{self.name}: person1 has {len(pos1)} frames but person2 has {len(pos2)}")
        positions, rotations = np.stack([pos1, pos2], axis=1), np.stack([rot1, rot2], axis=1)
        contacts = np.moveaxis(detect_contacts(np.moveaxis(positions, 1, 0)), 0, 1)
        return Clip(positions, rotations, contacts, meta={"source": f"interhuman:{self.name}", "texts": list(self.texts)})


@dataclass
class PairSample:
    """What the dataset yields: pair features [L, 2, 262] (L ≤ 299, or padded to 300 with ``pad``)."""

    name: str
    text: str
    texts: tuple[str, ...]
    features: np.ndarray
    length: int
    mirrored: bool


def index_split(root: str | Path, split: str) -> tuple[list[InterHumanPair], list[tuple[str, str]]]:
    """The usable pairs of one split and, for each id left out, why (ignored, missing file, too short …)."""
    root = Path(root)
    if split not in SPLITS:
        raise InterHumanError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if not (root / "motions_processed").is_dir():
        raise InterHumanError(f"{root}: no motions_processed/ folder; is this the InterHuman root?")
    ids = read_lines(root / "split" / f"{split}.txt")
    ignore_path = root / "ignore_list.txt"
    ignored = set(read_lines(ignore_path)) if ignore_path.is_file() else set()
    pairs: list[InterHumanPair] = []
    skipped: list[tuple[str, str]] = []
    for name in ids:
        if name in ignored:
            skipped.append((name, "in ignore_list.txt"))
            continue
        files = [root / "motions_processed" / person / f"{name}.npy" for person in ("person1", "person2")]
        annots = root / "annots" / f"{name}.txt"
        missing = [str(p.relative_to(root)) for p in (*files, annots) if not p.is_file()]
        if missing:
            skipped.append((name, f"missing {', '.join(missing)}"))
            continue
        try:  # memory-mapped: only the header is read, so indexing thousands of files stays cheap
            shapes = [np.load(p, mmap_mode="r", allow_pickle=False).shape for p in files]
        except (OSError, ValueError) as exc:
            skipped.append((name, f"unreadable .npy ({exc})"))
            continue
        lengths = {shape[0] for shape in shapes}
        texts = tuple(read_lines(annots))
        if any(len(shape) != 2 or shape[1] != RAW_COLUMNS for shape in shapes):
            skipped.append((name, f"expected T×{RAW_COLUMNS} arrays, got shapes {shapes}"))
        elif len(lengths) != 1:
            skipped.append((name, f"person files differ in length {sorted(lengths)}"))
        elif min(lengths) < MIN_FRAMES:
            skipped.append((name, f"only {min(lengths)} frames (< {MIN_FRAMES})"))
        elif not texts:
            skipped.append((name, "empty annotation file"))
        else:
            pairs.append(InterHumanPair(name, files[0], files[1], texts, lengths.pop()))
    return pairs, skipped


class InterHumanDataset:
    """Random-access InterHuman pairs as 262-D features (numpy only; wrap it in any DataLoader).

    ``mirror`` (default: only for the train split) doubles the entries with mirrored copies; ``seed``
    fixes the crop window, the person swaps and the text choice; ``pad`` zero-pads to 300 frames.
    """

    def __init__(self, root: str | Path, split: str = "train", mirror: bool | None = None, seed: int | None = None,
                 pad: bool = False, max_frames: int = MAX_FRAMES) -> None:
        self.pairs, self.skipped = index_split(root, split)
        if not self.pairs:
            raise InterHumanError(f"{root}: split {split!r} has no usable pairs ({len(self.skipped)} skipped)")
        self.mirror = split == "train" if mirror is None else mirror
        self.rng = np.random.default_rng(seed)
        self.pad = pad
        self.max_frames = max_frames

    def __len__(self) -> int:
        return len(self.pairs) * (2 if self.mirror else 1)

    def window(self, num_frames: int) -> slice:
        """InterGen's crop: a random ``max_frames`` window of longer pairs, all frames otherwise."""
        if num_frames <= self.max_frames:
            return slice(0, num_frames)
        start = int(self.rng.integers(0, num_frames - self.max_frames))
        return slice(start, start + self.max_frames)

    def __getitem__(self, index: int) -> PairSample:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        pair, mirrored = self.pairs[index % len(self.pairs)], index >= len(self.pairs)
        clip = pair.clip()
        cut = self.window(clip.num_frames)
        clip = Clip(clip.positions[cut], clip.rotations[cut], clip.contacts[cut], clip.fps, clip.meta)
        texts = pair.texts
        if mirrored:
            clip, texts = mirror(clip), tuple(mirror_text(t) for t in texts)
        if self.rng.random() < 0.5:  # which person defines the canonical frame
            clip = Clip(clip.positions[:, ::-1], clip.rotations[:, ::-1], clip.contacts[:, ::-1], clip.fps, clip.meta)
        features = pair_features(clip)
        if self.rng.random() < 0.5:  # which output slot each person lands in
            features = features[:, ::-1]
        length = len(features)
        if self.pad:
            features = np.concatenate([features, np.zeros((self.max_frames - length, 2, FEATURE_DIM), np.float32)])
        text = texts[int(self.rng.integers(len(texts)))]
        return PairSample(pair.name + ("_swap" if mirrored else ""), text, texts, np.ascontiguousarray(features), length, mirrored)
