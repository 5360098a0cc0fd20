"""BVH reader, joint maps and conversion on the real CMU files in ../shared/data/cmu, plus the error cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vendor_models.cli.data import main as data_main
from vendor_models.data import build as B
from vendor_models.data.bvh import BvhError, read_bvh
from vendor_models.data.convert import (
    METRES_PER_UNIT,
    convert,
    convert_person,
    tpose_error,
    unwrap_half_turns,
)
from vendor_models.data.joint_maps import JointMapError, identify, map_joints
from vendor_models.motion.canonical import facing_angle
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.resampling import resample
from vendor_models.motion.rotations import quat_angle, quat_multiply, quat_rotate
from vendor_models.motion.skeleton import PARENTS, REST_DIRECTIONS, bone_lengths

DATA = Path(__file__).parents[1].parent / "shared" / "data" / "cmu"
pytestmark = pytest.mark.skipif(not (DATA / "pairs.tsv").is_file(), reason=f"CMU data not found at {DATA}")
LEAD, FOLLOW = DATA / "bvh_daz" / "10.bvh", DATA / "bvh_daz" / "25.bvh"  # the shortest salsa pair (60_10/61_10)
SINGLE = DATA / "single_iclone" / "007_12.bvh"  # starts with its own T-pose


def test_read_daz_header_and_fk() -> None:
    motion = read_bvh(LEAD)
    assert len(motion.joint_names) == 43 and motion.frames.shape[1] == 132
    assert motion.joint_names[0] == "hip" and motion.parents[0] == -1
    assert motion.frame_time == pytest.approx(0.00833333) and motion.num_frames == 1198
    pos = motion.world_positions()
    assert pos.shape == (1198, 43, 3) and motion.world_rotations().shape == (1198, 43, 3, 3)
    assert np.allclose(pos[:, 0], motion.frames[:, :3])  # root position channels are absolute (as Blender)
    foot = motion.index("lFoot")
    toe = motion.end_site_positions(foot)
    assert np.allclose(np.linalg.norm(toe - pos[:, foot], axis=-1), np.linalg.norm(motion.end_sites[foot]))
    # A rigid skeleton: every bone keeps its offset length in every frame.
    child = motion.index("lShin")
    lengths = np.linalg.norm(pos[:, child] - pos[:, motion.parents[child]], axis=-1)
    assert np.allclose(lengths, np.linalg.norm(motion.offsets[child]))


def test_identify_and_map_both_skeletons() -> None:
    assert identify(read_bvh(LEAD)) == "daz"
    iclone = read_bvh(SINGLE)
    assert identify(iclone) == "iclone" and len(iclone.joint_names) == 100
    positions, rotations = map_joints(iclone)
    assert positions.shape == (132, 22, 3) and rotations.shape == (132, 22, 3, 3)
    assert tpose_error(positions[0] * 0.01) < 0.01 and tpose_error(positions[1] * 0.01) > 0.1


def per_bone_error_mm(clip: Clip) -> np.ndarray:
    """|FK of REST_DIRECTIONS × measured bone length from the parent's true position − true child| per bone."""
    rot = clip.rotations.astype(np.float64)
    world = np.empty_like(rot)
    world[..., 0, :] = rot[..., 0, :]
    for j in range(1, 22):
        world[..., j, :] = quat_multiply(world[..., PARENTS[j], :], rot[..., j, :])
    parents = list(PARENTS[1:])
    bones = clip.positions[..., 1:, :] - clip.positions[..., parents, :]
    length = np.linalg.norm(bones, axis=-1, keepdims=True)
    predicted = quat_rotate(world[..., parents, :], REST_DIRECTIONS[1:] * length)
    return np.linalg.norm(predicted - bones, axis=-1).max(axis=(0, 1)) * 1000


def test_convert_salsa_pair() -> None:
    clip = convert([LEAD, FOLLOW], meta={"prompt": "salsa dance"})
    assert clip.fps == 30 and clip.num_people == 2
    # 1197 motion frames at the true 60 fps, less the 3 that blend out of the T-pose, every second frame
    assert clip.num_frames == 597 and clip.meta["unsettled_frames_dropped"] == 3
    assert np.linalg.norm(np.diff(clip.positions[:10], axis=0), axis=-1).max() < 0.1  # no 14 m/s hands at the start
    assert clip.meta["prompt"] == "salsa dance" and clip.meta["people"][0]["source_fps"] == 60.0
    assert [p["rest"] for p in clip.meta["people"]] == ["frame 0", "frame 0"]
    pos = clip.positions
    assert np.allclose(pos[0, 0, 0, [0, 2]], 0, atol=1e-5) and abs(facing_angle(pos[0, 0], hips_only=True)) < 1e-5
    assert pos[..., 1].min() == pytest.approx(0, abs=1e-6)
    assert 0.7 < pos[:, :, 0, 1].mean() < 1.0 and 0.45 < (pos[:, :, 15, 1] - pos[:, :, 0, 1]).mean() < 0.75
    assert np.median(pos[:, :, [7, 8, 10, 11], 1].min(axis=-1)) < 0.1  # feet on the floor most of the time
    distance = np.linalg.norm(pos[:, 0, 0, [0, 2]] - pos[:, 1, 0, [0, 2]], axis=-1)
    assert 0.2 < distance.min() and distance.max() < 3.0
    assert bone_lengths(pos).std(axis=0).max() < 1e-4  # rigid skeleton, per person
    errors = per_bone_error_mm(clip)
    # bones from a joint with several children (pelvis → hips/spine1, spine3 → neck/collars) share one rotation
    branch = [j - 1 for j in range(1, 22) if PARENTS.count(PARENTS[j]) > 1]
    assert np.delete(errors, branch).max() < 1.0
    assert 0.2 < clip.contacts.mean() < 0.9


def test_convert_single_with_own_and_borrowed_tpose(tmp_path: Path) -> None:
    clip = convert([SINGLE])
    assert clip.num_people == 1 and clip.num_frames == 66 and clip.meta["people"][0]["rest"] == "frame 0"
    # 005_03 does not start with a T-pose: it borrows one from a sibling with the same skeleton.
    shutil.copy(DATA / "single_iclone" / "005_03.bvh", tmp_path)
    with pytest.raises(BvhError, match="not a T-pose"):
        convert_person(tmp_path / "005_03.bvh")
    shutil.copy(SINGLE, tmp_path)
    borrowed = convert([tmp_path / "005_03.bvh"])
    assert borrowed.meta["people"][0]["rest"] == "frame 0 of 007_12.bvh"
    assert borrowed.num_frames == 108 and np.delete(per_bone_error_mm(borrowed), [0, 1, 12, 13]).max() < 1.0


def test_missing_truncated_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(BvhError, match="not found"):
        read_bvh(tmp_path / "nope.bvh")
    text = SINGLE.read_text()
    (tmp_path / "cut.bvh").write_text(text[: int(len(text) * 0.8)])
    with pytest.raises(BvhError, match=r"cut\.bvh.*truncated"):
        read_bvh(tmp_path / "cut.bvh")
    (tmp_path / "head.bvh").write_text(text[:3000])
    with pytest.raises(BvhError, match="no MOTION section"):
        read_bvh(tmp_path / "head.bvh")
    (tmp_path / "bad.bvh").write_text(text.replace("OFFSET", "OFSET", 1))
    with pytest.raises(BvhError, match="unexpected 'OFSET'"):
        read_bvh(tmp_path / "bad.bvh")
    head, _, motion = text.partition("MOTION")
    lines = motion.split("\n")
    lines[5] = "abc " + lines[5]
    (tmp_path / "nan.bvh").write_text(head + "MOTION" + "\n".join(lines))
    with pytest.raises(BvhError, match="non-numeric"):
        read_bvh(tmp_path / "nan.bvh")


def test_unknown_skeleton_names_the_unmapped_joints(tmp_path: Path) -> None:
    text = LEAD.read_text().replace("lThigh", "LeftUpLeg").replace("rForeArm", "RightForeArm")
    (tmp_path / "renamed.bvh").write_text(text)
    with pytest.raises(JointMapError) as err:
        convert([tmp_path / "renamed.bvh"])
    message = str(err.value)
    assert "renamed.bvh" in message and "left_hip (needs lThigh)" in message and "right_elbow (needs rForeArm)" in message
    assert "closest known skeleton: daz" in message


def test_partners_with_different_frame_counts(tmp_path: Path) -> None:
    head, _, motion = FOLLOW.read_text().replace("\r", "").partition("MOTION")
    lines = motion.strip().split("\n")
    short = lines[2:-10]
    (tmp_path / "25.bvh").write_text(f"{head}MOTION\nFrames: {len(short)}\n{lines[1]}\n" + "\n".join(short) + "\n")
    with pytest.raises(BvhError, match=r"partner files differ: 10\.bvh has 1197 motion frames.*25\.bvh has 1187"):
        convert([LEAD, tmp_path / "25.bvh"], fps=60)


def test_cli_convert_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "single.npz"
    assert data_main(["convert", str(SINGLE), "--out", str(out), "--prompt", "run"]) == 0
    clip = Clip.load(out)
    assert clip.num_frames == 66 and clip.meta["prompt"] == "run"
    assert data_main(["convert", str(tmp_path / "missing.bvh"), "--out", str(out)]) == 2
    assert "BVH file not found" in capsys.readouterr().err


def test_build_cache_and_split(tmp_path: Path) -> None:
    data = tmp_path / "cmu"
    (data / "bvh_daz").mkdir(parents=True)
    (data / "single_iclone").mkdir()
    rows = [line for line in (DATA / "pairs.tsv").read_text().splitlines() if line.startswith(("pair_trial", "60_10"))]
    (data / "pairs.tsv").write_text("\n".join(rows) + "\n")
    for src in (LEAD, FOLLOW):
        shutil.copy(src, data / "bvh_daz")
    for name in ("007_12", "007_10", "002_09", "002_01", "cmu_index.csv"):
        shutil.copy(DATA / "single_iclone" / (name if name.endswith("csv") else f"{name}.bvh"), data / "single_iclone")
    cache, split_file = tmp_path / "clips", tmp_path / "split.json"
    split = B.build(cache, data, log=lambda message: None, split_file=split_file)
    assert split["train"] == ["salsa_10", "single_007_12"]
    assert split["val"] == ["single_002_09"] and split["test"] == ["single_007_10"]
    assert split["excluded"] == ["single_002_01"]  # this export lost the root's vertical motion
    assert json.loads(split_file.read_text()) == split
    single = Clip.load(cache / "single_007_12.npz")
    assert single.meta["description"] and single.meta["split"] == "train"
    assert Clip.load(cache / "salsa_10.npz").num_people == 2


def test_load_split_rebuilds_missing_clips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "cmu"
    (data / "single_iclone").mkdir(parents=True)
    (data / "pairs.tsv").write_text((DATA / "pairs.tsv").read_text().splitlines()[0] + "\n")
    shutil.copy(SINGLE, data / "single_iclone")
    monkeypatch.setattr(B, "SPLIT_FILE", tmp_path / "split.json")
    cache = tmp_path / "clips"
    B.build(cache, data, log=lambda message: None)
    (cache / "single_007_12.npz").unlink()
    assert B.load_split("train", people=1, cache=cache, data=data) == [cache / "single_007_12.npz"]
    assert (cache / "single_007_12.npz").is_file() and B.load_split("train", people=2, cache=cache, data=data) == []
    clip = cache / "single_007_12.npz"
    clip.write_bytes(b"stale")
    (cache / B.VERSION_FILE).write_text("0\n")  # a cache written by an older converter is rebuilt
    B.load_split("train", cache=cache, data=data)
    assert Clip.load(clip).num_frames == 66 and (cache / B.VERSION_FILE).read_text().strip() != "0"
    with pytest.raises(ValueError, match="unknown split"):
        B.load_split("training", cache=cache, data=data)


def test_committed_split_follows_the_rule() -> None:
    split = B.read_split()
    assert split["val"][:1] == ["salsa_13"] and split["test"][:2] == ["salsa_14", "salsa_15"]
    assert {n for n in split["train"] if n.startswith("salsa")} == {f"salsa_{t:02d}" for t in (1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12)}
    for name in ("val", "test"):
        assert all(int(n[-1]) == (9 if name == "val" else 0) for n in split[name] if n.startswith("single"))
    assert not set(split["train"]) & set(split["val"]) and not set(split["train"]) & set(split["test"])


def test_resample_stride_and_interpolation() -> None:
    t = np.arange(13)
    positions = np.stack([t * 0.1, np.zeros(13), np.zeros(13)], -1)[:, None].repeat(22, 1)
    angles = t * 0.05
    quats = np.stack([np.cos(angles / 2), np.zeros(13), np.sin(angles / 2), np.zeros(13)], -1)[:, None].repeat(22, 1)
    pos, rot = resample(positions, quats, 60.0)
    assert np.array_equal(pos, positions[::2]) and np.array_equal(rot, quats[::2])
    pos, rot = resample(positions, quats, 45.0)  # 1.5 source frames per output frame
    assert np.allclose(pos[:, 0, 0], np.arange(len(pos)) * 1.5 * 0.1)
    assert len(pos) == 9 and np.allclose(np.arctan2(rot[:, 0, 2], rot[:, 0, 0]) * 2, np.arange(9) * 1.5 * 0.05, atol=1e-3)


def test_daz_unit_matches_the_original_cmu_capture() -> None:
    """METRES_PER_UNIT["daz"] agrees with CMU's own 60_01.amc root trajectory (ASF: length 0.45 → 0.0254/0.45 m)."""
    amc = np.array([[float(v) for v in line.split()[1:4]] for line in (DATA / "asfamc" / "60_01.amc").read_text().splitlines()
                    if line.startswith("root")]) * 0.0254 / 0.45
    motion = read_bvh(DATA / "bvh_daz" / "01.bvh")
    hip, turn = motion.world_positions()[1:, 0], motion.world_rotations()[1:, 0]
    assert len(amc) == len(hip) == 2242  # the BVH's motion frames are the 60 fps AMC frames
    # amc(t) = s · hip(t) + G_hip(t) · o + c, least squares for s, o, c
    design = np.concatenate([hip[..., None], turn, np.broadcast_to(np.eye(3), turn.shape)], axis=-1).reshape(-1, 7)
    solution, *_ = np.linalg.lstsq(design, amc.reshape(-1), rcond=None)
    assert solution[0] == pytest.approx(METRES_PER_UNIT["daz"], rel=0.005)
    assert np.linalg.norm((design @ solution - amc.reshape(-1)).reshape(-1, 3), axis=-1).mean() < 0.015


def test_unwrap_half_turns_removes_roll_flips_only() -> None:
    person = convert_person(SINGLE)
    world, positions = person.world, person.positions
    knee, ankle = 4, 7
    axis = positions[:, ankle] - positions[:, knee]
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    flipped = world.copy()
    half = np.concatenate([np.zeros((10, 1)), axis[20:30]], axis=-1)
    flipped[20:30, knee] = quat_multiply(half, world[20:30, knee])  # a 10-frame roll flip of the shin
    assert quat_angle(flipped[20, knee], flipped[19, knee]) > 3  # a jump of nearly 180°
    repaired = unwrap_half_turns(flipped, positions)
    assert quat_angle(repaired, world).max() < 1e-6
    assert quat_angle(unwrap_half_turns(world, positions), world).max() < 1e-6  # clean motion is untouched
