"""The InterHuman loader, on a tiny dataset written in exactly InterHuman's layout from real CMU salsa.

A real converted pair is laid out as T×492 files (positions Z-up in columns 0..65, row-order 6D rotations
in 186..311, every other column random junk that must be ignored), with annotations, splits and an ignore
list. The loader must give back the clip and exactly the 262-D pair features our CMU path computes for
it, with InterGen's crop/swap/mirror rules.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vendor_models.data.convert import convert
from vendor_models.data.interhuman import (
    MAX_FRAMES,
    RAW_COLUMNS,
    InterHumanDataset,
    InterHumanError,
    index_split,
    read_person,
)
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.features import mirror_features, pair_features
from vendor_models.motion.rotations import quat_to_6d
from vendor_models.motion.skeleton import model_to_blender

SALSA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cmu" / "bvh_daz"
TEXTS = ["the two dance salsa and he turns her to the left", "they hold hands and step clockwise"]


@pytest.fixture(scope="module")
def salsa() -> Clip:
    """Salsa trial 05 (subjects 60 and 61), converted by our CMU path, first 400 frames (13.3 s)."""
    clip = convert([SALSA / "05.bvh", SALSA / "20.bvh"])
    return Clip(clip.positions[:400], clip.rotations[:400], clip.contacts[:400], clip.fps, clip.meta)


def _to_492(positions: np.ndarray, rotations: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One person in InterHuman's processed layout; everything we do not read is noise."""
    raw = rng.normal(size=(len(positions), RAW_COLUMNS)).astype(np.float32)
    raw[:, :66] = model_to_blender(positions).reshape(len(positions), 66)
    raw[:, 186:312] = quat_to_6d(rotations[:, 1:]).reshape(len(positions), 126)
    return raw


def _write_dataset(root: Path, clip: Clip) -> None:
    rng = np.random.default_rng(1)
    for person in ("person1", "person2"):
        (root / "motions_processed" / person).mkdir(parents=True)
    (root / "annots").mkdir()
    (root / "split").mkdir()
    # long pair (cropped), short pair (kept whole), too short, ignored, person2 missing, wrong width
    windows = {"1001": slice(0, 400), "1002": slice(50, 170), "1003": slice(0, 10), "1004": slice(0, 60),
               "1005": slice(0, 60), "1006": slice(0, 60)}
    for name, window in windows.items():
        for p, person in enumerate(("person1", "person2")):
            if name == "1005" and person == "person2":
                continue
            raw = _to_492(clip.positions[window, p], clip.rotations[window, p], rng)
            np.save(root / "motions_processed" / person / f"{name}.npy", raw[:, :300] if name == "1006" else raw)
        (root / "annots" / f"{name}.txt").write_text("\n".join(TEXTS) + "\n\n")
    (root / "split" / "train.txt").write_text("1001\n1002\n1003\n1004\n1005\n1006\n")
    (root / "split" / "val.txt").write_text("1002\n")
    (root / "split" / "test.txt").write_text("")
    (root / "ignore_list.txt").write_text("1004\n")


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory: pytest.TempPathFactory, salsa: Clip) -> Path:
    root = tmp_path_factory.mktemp("interhuman")
    _write_dataset(root, salsa)
    return root


def _candidates(clip: Clip) -> list[np.ndarray]:
    """The four feature arrays InterGen's two random person swaps can produce for one window."""
    swapped = Clip(clip.positions[:, ::-1], clip.rotations[:, ::-1], clip.contacts[:, ::-1], clip.fps)
    return [f for base in (pair_features(clip), pair_features(swapped)) for f in (base, base[:, ::-1])]


def _window(clip: Clip, window: slice) -> Clip:
    return Clip(clip.positions[window], clip.rotations[window], clip.contacts[window], clip.fps)


def _match(features: np.ndarray, candidates: list[np.ndarray]) -> int:
    """Index of the candidate the features equal (−1 if none)."""
    for i, expected in enumerate(candidates):
        if expected.shape == features.shape and np.allclose(features, expected, atol=1e-4):
            return i
    return -1


def test_index_skips_what_intergen_skips(dataset_root: Path) -> None:
    pairs, skipped = index_split(dataset_root, "train")
    assert [p.name for p in pairs] == ["1001", "1002"]
    assert [p.num_frames for p in pairs] == [400, 120]
    assert pairs[0].texts == tuple(TEXTS)
    reasons = dict(skipped)
    assert reasons["1003"] == "only 10 frames (< 15)"
    assert reasons["1004"] == "in ignore_list.txt"
    assert reasons["1005"] == "missing motions_processed/person2/1005.npy"
    assert "expected T×492" in reasons["1006"]
    assert [p.name for p in index_split(dataset_root, "val")[0]] == ["1002"]


def test_files_read_back_as_the_converted_clip(dataset_root: Path, salsa: Clip) -> None:
    positions, rotations = read_person(dataset_root / "motions_processed" / "person2" / "1001.npy")
    np.testing.assert_array_equal(positions.astype(np.float32), salsa.positions[:, 1])
    np.testing.assert_allclose(quat_to_6d(rotations[:, 1:]), quat_to_6d(salsa.rotations[:, 1, 1:]), atol=1e-5)
    pair = index_split(dataset_root, "train")[0][1].clip()
    np.testing.assert_array_equal(pair.positions, salsa.positions[50:170])


def test_features_equal_our_cmu_path(dataset_root: Path, salsa: Clip) -> None:
    data = InterHumanDataset(dataset_root, "val", seed=0)
    assert len(data) == 1 and not data.mirror
    candidates = _candidates(_window(salsa, slice(50, 170)))
    seen = set()
    for _ in range(16):
        sample = data[0]
        assert sample.features.shape == (119, 2, 262) and sample.features.dtype == np.float32
        assert sample.length == 119 and sample.text in TEXTS and not sample.mirrored
        seen.add(_match(sample.features, candidates))
    assert -1 not in seen and len(seen) >= 3  # random swaps happen, and every outcome is one of InterGen's


def test_long_pairs_are_cropped_to_a_300_frame_window(dataset_root: Path, salsa: Clip) -> None:
    data = InterHumanDataset(dataset_root, "train", mirror=False, seed=3)
    sample = data[0]
    assert sample.name == "1001" and sample.length == MAX_FRAMES - 1
    starts = [s for s in range(0, 100) if _match(sample.features, _candidates(_window(salsa, slice(s, s + 300)))) >= 0]
    assert len(starts) == 1


def test_mirrored_entries_mirror_features_and_text(dataset_root: Path, salsa: Clip) -> None:
    data = InterHumanDataset(dataset_root, "train", seed=5)
    assert len(data) == 4  # two pairs, each also mirrored (training default)
    sample = data[3]
    assert sample.name == "1002_swap" and sample.mirrored
    assert sample.texts == ("the two dance salsa and he turns her to the right", "they hold hands and step counterclockwise")
    mirrored = [mirror_features(f) for f in _candidates(_window(salsa, slice(50, 170)))]
    assert _match(sample.features, mirrored) >= 0


def test_padding(dataset_root: Path) -> None:
    sample = InterHumanDataset(dataset_root, "val", pad=True, seed=0)[0]
    assert sample.features.shape == (MAX_FRAMES, 2, 262) and sample.length == 119
    assert not sample.features[119:].any() and sample.features[:119].any()


def test_bad_folders_and_files_name_the_problem(tmp_path: Path, dataset_root: Path) -> None:
    with pytest.raises(InterHumanError, match="no motions_processed"):
        InterHumanDataset(tmp_path)
    with pytest.raises(InterHumanError, match="unknown split 'dev'"):
        InterHumanDataset(dataset_root, "dev")
    with pytest.raises(InterHumanError, match="test' has no usable pairs"):
        InterHumanDataset(dataset_root, "test")
    (tmp_path / "motions_processed").mkdir()
    with pytest.raises(InterHumanError, match=r"split/train.txt: cannot read"):
        InterHumanDataset(tmp_path)
    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((20, 300), np.float32))
    with pytest.raises(InterHumanError, match="wide.npy: expected a T×492 array"):
        read_person(wide)
    broken = tmp_path / "broken.npy"
    broken.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(InterHumanError, match="broken.npy: not a readable .npy"):
        read_person(broken)
    nan = np.zeros((20, RAW_COLUMNS), np.float32)
    nan[3, 5] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    with pytest.raises(InterHumanError, match="NaN"):
        read_person(tmp_path / "nan.npy")
    with pytest.raises(IndexError):
        InterHumanDataset(dataset_root, "val")[1]
