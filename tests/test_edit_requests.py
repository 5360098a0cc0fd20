"""Edits in time as requests: the protocol's edit/extend messages and segment timelines, the real worker
serving them with progress in windows × steps, and ``intermask sample --edit/--extend/--segments``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_worker import MODEL_MISSING, RawWorker

from vendor_models.data.build import ensure_cache
from vendor_models.motion import protocol as P
from vendor_models.motion.clip_file import Clip

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[1]


def test_edit_extend_and_segments_travel_as_json() -> None:
    sampler = P.SamplerSettings(seed=3, steps=4)
    for message in (P.Edit("e1", clip="/c.npz", first=30, last=89, person="a", prompt="spin", sampler=sampler),
                    P.Extend("e2", clip="/c.npz", seconds=5.0, sampler=sampler),
                    P.Generate("e3", prompt="salsa", seconds=30.0, segments=[P.Segment("salsa", 12.0), P.Segment("spin", 18.0)]),
                    P.React("e4", prompt="dance", partner="/p.npz", segments=[P.Segment("dance", 20.0)])):
        assert P.parse(message.to_json()) == message
    with pytest.raises(P.ProtocolError) as info:
        P.parse('{"type": "generate", "id": "bad", "segments": [["salsa"]]}')
    assert info.value.job_id == "bad"
    with pytest.raises(P.ProtocolError, match="first"):
        P.parse('{"type": "edit", "id": "bad", "first": "ten"}')


def test_a_segments_file_is_text_or_json_and_fits_a_take() -> None:
    text = "# the take\n12 two people dance salsa\n\n8   the follow spins\n"
    assert P.parse_segments(text) == [P.Segment("two people dance salsa", 12.0), P.Segment("the follow spins", 8.0)]
    assert P.parse_segments('[{"prompt": "a", "seconds": 3}, ["b", 4.5]]') == [P.Segment("a", 3.0), P.Segment("b", 4.5)]
    with pytest.raises(P.ProtocolError, match="line 2"):
        P.parse_segments("12 salsa\nspin for a while\n")
    with pytest.raises(P.ProtocolError, match="not valid JSON"):
        P.parse_segments('[{"prompt": "a", ')
    segments = P.parse_segments(text)
    assert P.fit_segments(segments, 30) == [segments[0], P.Segment("the follow spins", 18.0)]
    assert P.fit_segments(segments, 10) == [P.Segment("two people dance salsa", 10.0)]


def sample_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vendor_models", "sample", "--device", "cpu", *args],
                          capture_output=True, text=True, timeout=280, cwd=REPO, check=False,
                          env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)))


def finished(worker: RawWorker, job: P.Message) -> tuple[Path, list[tuple[int, int]]]:
    """Send ``job``; its clip file and the (step, total) of its sampling progress."""
    worker.write(job.to_json())
    steps = []
    while True:
        message = worker.read(120)
        if isinstance(message, P.Progress):
            steps += [(message.step, message.total)] if message.id == job.id and message.stage == "sampling" else []
        elif message.id == job.id:
            assert isinstance(message, P.Result), message
            return Path(message.clips[0]), steps


@pytest.mark.skipif(bool(MODEL_MISSING), reason=str(MODEL_MISSING))
def test_the_worker_edits_extends_and_makes_long_takes(tmp_path: Path) -> None:
    worker = RawWorker()
    try:
        assert isinstance(worker.read(), P.Ready)
        out = str(tmp_path)
        path, steps = finished(worker, P.Generate("take", prompt="two people dance salsa", seconds=12.0, out_dir=out,
                                                  sampler=P.SamplerSettings(seed=1, steps=2)))
        take = Clip.load(path)
        assert take.num_frames == 360 and take.meta["windows"] == 2
        assert steps == [(1, 3), (2, 3), (3, 3)]                        # 2 windows: 2 steps, then 1 for 2 new s
        edit = Clip.load(finished(worker, P.Edit("edit", clip=str(path), first=100, last=159, prompt="the follow spins",
                                                 out_dir=out, sampler=P.SamplerSettings(seed=2, steps=2)))[0])
        assert np.array_equal(edit.positions[:100], take.positions[:100])
        assert np.array_equal(edit.positions[160:], take.positions[160:])
        assert not np.allclose(edit.positions[100:160], take.positions[100:160])
        longer = Clip.load(finished(worker, P.Extend("extend", clip=str(path), seconds=2.0, out_dir=out,
                                                     sampler=P.SamplerSettings(seed=3, steps=2)))[0])
        assert longer.num_frames == 420 and np.array_equal(longer.positions[:360], take.positions)
        worker.write(P.Edit("missing", clip=str(tmp_path / "nope.npz"), first=1, last=5).to_json())
        error = worker.until(P.Error, "missing", 60)
        assert error.code == P.ErrorCode.BAD_CLIP and "nope.npz" in error.message
    finally:
        worker.close()


@pytest.mark.skipif(bool(MODEL_MISSING), reason=str(MODEL_MISSING))
def test_sample_edits_a_stretch_of_real_motion_from_the_command_line(tmp_path: Path) -> None:
    real = Clip.load(ensure_cache() / "salsa_13.npz")
    before = Clip(real.positions[:90], real.rotations[:90], real.contacts[:90], 30.0, {"name": "salsa_13"})
    before.save(tmp_path / "c.npz")
    edited = sample_cli("--edit", str(tmp_path / "c.npz"), "--frames", "30:59", "--person", "a", "--steps", "2",
                        "--seed", "4", "the lead turns", "--out", str(tmp_path / "e.npz"))
    assert edited.returncode == 0, edited.stderr[-2000:]
    after = Clip.load(tmp_path / "e.npz")
    assert np.array_equal(after.positions[:, 1], before.positions[:, 1])
    assert np.array_equal(after.positions[:30], before.positions[:30]) and np.array_equal(after.positions[60:], before.positions[60:])
    assert after.meta["edit"] == {"first": 30, "last": 59, "person": "a", "prompt": "the lead turns",
                                  "text": "the lead turns."}
    assert after.meta["text"] == "the lead turns." and after.meta["name"] == "salsa_13"   # mocap had no prompt


def test_sample_names_what_is_wrong_before_loading_a_model(tmp_path: Path) -> None:
    for args, message in ((["--edit", "c.npz", "--frames", "30"], "--frames must be A:B"),
                          (["--extend", "c.npz"], "--extend needs --seconds"),
                          (["--edit", "c.npz", "--extend", "c.npz", "--frames", "1:2"], "choose one of"),
                          (["--seconds", "30"], "give a PROMPT")):
        done = sample_cli(*args, "--out", str(tmp_path / "x.npz"))
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
