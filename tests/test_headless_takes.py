"""`intermask generate`/`react` past one 10 s clip, as a user runs them: a long take with prompt segments,
an extension and an edited stretch of a real clip, and a reaction to a partner longer than 10 s, each
through the real worker into a .blend (short clips and few steps, so they run on a CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_headless import DATA, MODEL_ARGS, inspect, intermask, leftovers, needs_model

from vendor_models.data.build import ensure_cache
from vendor_models.motion.clip_file import Clip

pytestmark = pytest.mark.timeout(300)
FAST = [*MODEL_ARGS, "--steps", "2", "--json"]  # the last --steps wins


@pytest.fixture
def real_clip(tmp_path: Path) -> Path:
    """Three seconds of real two-person mocap (salsa_13) as the clip to edit or continue."""
    real = Clip.load(ensure_cache() / "salsa_13.npz")
    return Clip(real.positions[:90], real.rotations[:90], real.contacts[:90], 30.0,
                {"name": "salsa_13", "prompt": "two people dance salsa"}).save(tmp_path / "c.npz")


@pytest.mark.parametrize(("args", "message"), [
    (["--seconds", "0.5"], "--seconds must be within 1-60, not 0.5"),
    (["--frames", "1:5"], "--frames goes with --edit"),
    (["--edit", "nope.npz", "--frames", "1:5"], "--edit clip not found: nope.npz"),
    (["--edit", "c.npz"], "--edit needs --frames A:B"),
    (["--edit", "c.npz", "--frames", "30"], "--frames must be A:B"),
    (["--edit", "c.npz", "--frames", "9:3"], "B at least A"),
    (["--extend", "c.npz"], "--extend needs --seconds"),
    (["--extend", "c.npz", "--edit", "c.npz", "--seconds", "2"], "choose one of --edit and --extend"),
    (["--segments", "missing.txt"], "--segments file not found: missing.txt"),
    (["--segments", "bad.txt"], "segments line 1 must be 'SECONDS PROMPT'"),
])
def test_bad_take_options_are_one_line_before_any_work(tmp_path: Path, real_clip: Path, args: list[str],
                                                       message: str) -> None:
    (tmp_path / "bad.txt").write_text("salsa for a while\n", encoding="utf-8")
    prompt = [] if "--segments" in args or "--edit" in args or "--extend" in args else ["x"]
    done = intermask("generate", *prompt, *args, "--out", "a.blend", "--device", "cpu", cwd=tmp_path)
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "a.blend").exists() and leftovers(tmp_path) == []


@needs_model
def test_a_12_second_take_with_two_segments_is_baked_from_two_windows(tmp_path: Path) -> None:
    (tmp_path / "take.txt").write_text("# the take\n6 two people dance salsa\n6 the follow spins under the lead's arm\n",
                                       encoding="utf-8")
    done = intermask("generate", "--segments", "take.txt", "--seconds", "12", "--out", "take.blend",
                     "--save-clip", "take.npz", *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["frames"] == 360 and summary["windows"] == 2 and summary["request"] == "generate"
    assert "3/3 steps of all windows" in done.stderr   # 2 steps for window 1, 1 for window 2's new 8 s
    clip = Clip.load(tmp_path / "take.npz")
    assert clip.meta["prompt"] == "two people dance salsa → the follow spins under the lead's arm"
    blend = inspect(tmp_path / "take.blend")
    assert blend["frame_end"] >= 360
    for name, action in zip(summary["armatures"], summary["actions"]):
        assert blend["armatures"][name]["action"] == action and blend["armatures"][name]["keys"] > 360 * 20
    assert leftovers(tmp_path) == []


@needs_model
def test_an_edited_stretch_keeps_the_rest_of_a_real_clip_and_an_extension_continues_it(tmp_path: Path,
                                                                                        real_clip: Path) -> None:
    before = Clip.load(real_clip)
    done = intermask("generate", "--edit", "c.npz", "--frames", "30:59", "--person", "a", "the lead turns",
                     "--seed", "4", "--out", "edit.blend", "--save-clip", "edit.npz", *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["frames"] == 90 and summary["request"] == "edit"
    after = Clip.load(tmp_path / "edit.npz")
    assert np.array_equal(after.positions[:, 1], before.positions[:, 1])        # person b untouched
    assert np.array_equal(after.positions[:30], before.positions[:30])
    assert np.array_equal(after.positions[60:], before.positions[60:])
    assert not np.allclose(after.positions[30:60, 0], before.positions[30:60, 0])
    assert all(rig["keys"] > 90 * 20 for rig in inspect(tmp_path / "edit.blend")["armatures"].values())

    done = intermask("generate", "--extend", "c.npz", "--seconds", "1", "--out", "longer.blend",
                     "--save-clip", "longer.npz", *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["frames"] == 120
    longer = Clip.load(tmp_path / "longer.npz")
    assert np.array_equal(longer.positions[:90], before.positions)


@needs_model
def test_react_to_a_partner_longer_than_ten_seconds(tmp_path: Path) -> None:
    # the Daz file read at 30 fps from frame 2 (after its T-pose) to 341: 340 frames, 11.3 s, two windows
    done = intermask("react", "--partner", str(DATA / "bvh_daz/01.bvh"), "--partner-fps", "30",
                     "--partner-frames", "2:341", "two people dance", "--out", "react.blend", *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["windows"] == 2 and abs(summary["frames"] - 340) <= 4
    partner, person_b = summary["armatures"]
    blend = inspect(tmp_path / "react.blend")
    assert blend["armatures"][person_b]["action"] == summary["actions"][0]
    assert blend["armatures"][person_b]["keys"] > 330 * 20 and blend["armatures"][partner]["keys"] > 0
