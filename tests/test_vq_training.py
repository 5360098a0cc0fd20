"""Long VQ-VAE runs: exact resume, warm start, root-relative positions, and the held-out report.

The training tests run the real ``intermask train vq`` loop on real salsa windows with a tiny network;
the report test scores the shipped VQ-VAE on the real held-out pair windows and must reproduce the
``VQ reconstruction`` row that ``intermask eval`` wrote into the shipped EVAL.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from vendor_models.data.build import load_split
from vendor_models.models.checkpoint import load_checkpoint
from vendor_models.models.vq import VQVAE
from vendor_models.models.vq.config import VQConfig, VQPreset, VQTrainConfig
from vendor_models.models.vq.persist import load_vq
from vendor_models.training import train_vq
from vendor_models.training.datasets import WindowSet, feature_stats, person_sequences
from vendor_models.training.vq_progress import projection, report_curve
from vendor_models.training.vq_report import HeldOutReport

torch.set_num_threads(1)
TINY = VQConfig(width=16, code_dim=8, codebook_size=32, dropout=0.1, root_relative=True)
SHIPPED = Path(__file__).resolve().parents[1] / "vendor_models" / "checkpoints" / "default"


@pytest.fixture(scope="module")
def real_run_data() -> tuple[dict[str, WindowSet], np.ndarray, np.ndarray, dict[str, Any]]:
    """Windows of one real training pair (train) and a few of them as val/test, with their stats."""
    sequences = person_sequences(load_split("train", people=2)[:1])
    mean, std = feature_stats(sequences)
    train = WindowSet.build(sequences, mean, std, window=32, stride=10)
    small = WindowSet(train.sequences, train.index[::50], 32)
    sets = {"train": train, "val": small, "test": small}
    data = {name: {"clips": [], "sequences": len(s.sequences), "windows": len(s)} for name, s in sets.items()}
    return sets, mean, std, data


@pytest.fixture()
def tiny_run(monkeypatch: pytest.MonkeyPatch, real_run_data: tuple[Any, ...]) -> None:
    """The trainer with a tiny preset (dropout on, so its noise must be reproduced too) and the real windows."""
    tiny = VQPreset(TINY, VQTrainConfig(steps=8, batch_size=4, window=32, warmup_steps=2, milestones=(0.5,),
                                        log_every=1, save_every=3, eval_every=2))
    monkeypatch.setattr(train_vq, "preset", lambda name: tiny)
    monkeypatch.setattr(train_vq, "load_windows", lambda *a: real_run_data)


def _log(out: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"}
            for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.mark.usefixtures("tiny_run")
def test_stopped_and_resumed_run_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert train_vq.main(["--out", str(whole)]) == 0
    assert train_vq.main(["--out", str(split), "--until-step", "4"]) == 0
    half = load_checkpoint(split / "last.pt", kind="vq", with_train_state=True)
    assert half.train_state is not None and half.train_state["step"] == 4
    assert not (split / "summary.json").exists()
    assert train_vq.main(["--out", str(split), "--resume"]) == 0     # configs come from last.pt

    a = load_checkpoint(whole / "last.pt", kind="vq", with_train_state=True)
    b = load_checkpoint(split / "last.pt", kind="vq", with_train_state=True)
    assert a.state.keys() == b.state.keys()
    for name in a.state:
        assert torch.equal(a.state[name], b.state[name]), name          # bit for bit, codebook included
    assert a.train_state is not None and b.train_state is not None
    assert a.train_state["best_val_mpjpe_mm"] == b.train_state["best_val_mpjpe_mm"]
    moments = [(torch.equal(s["exp_avg"], t["exp_avg"]), torch.equal(s["exp_avg_sq"], t["exp_avg_sq"]))
               for s, t in zip(a.train_state["optimizer"]["state"].values(), b.train_state["optimizer"]["state"].values())]
    assert moments and all(x and y for x, y in moments)
    assert _log(whole) == _log(split) and [r["step"] for r in _log(split)] == list(range(1, 9))


@pytest.mark.usefixtures("tiny_run")
def test_resume_drops_log_rows_written_after_the_last_save(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert train_vq.main(["--out", str(out), "--until-step", "3"]) == 0
    with (out / "log.jsonl").open("a") as log:                       # a step the killed run logged, unsaved
        log.write(json.dumps({"step": 4, "total": -1.0}) + "\n")
    assert train_vq.main(["--out", str(out), "--resume", "--until-step", "5"]) == 0
    assert [r["step"] for r in _log(out)] == [1, 2, 3, 4, 5] and _log(out)[3]["total"] > 0


@pytest.mark.usefixtures("tiny_run")
def test_warm_start_continues_from_the_given_weights_and_codebook(tmp_path: Path) -> None:
    assert train_vq.main(["--out", str(tmp_path / "first"), "--until-step", "2"]) == 0
    source = load_checkpoint(tmp_path / "first" / "last.pt", kind="vq")
    assert train_vq.main(["--out", str(tmp_path / "warm"), "--init", str(tmp_path / "first" / "last.pt"),
                          "--until-step", "1"]) == 0
    warm = load_checkpoint(tmp_path / "warm" / "last.pt", kind="vq")
    assert warm.meta["init"]["steps"] == 2
    assert train_vq.main(["--out", str(tmp_path / "cold"), "--until-step", "1"]) == 0
    cold = load_checkpoint(tmp_path / "cold" / "last.pt", kind="vq")
    moved = {k: float((warm.state[k] - source.state[k]).abs().max()) for k in source.state if source.state[k].is_floating_point()}
    apart = {k: float((cold.state[k] - source.state[k]).abs().max()) for k in moved}
    assert sum(moved.values()) < sum(apart.values())      # one step away from the source, not from scratch


def test_root_relative_channels_are_translation_free_and_invertible(real_run_data: tuple[Any, ...]) -> None:
    sets, mean, std, _ = real_run_data
    model = VQVAE(TINY)
    model.set_normalisation(torch.from_numpy(mean), torch.from_numpy(std))
    feats = torch.from_numpy(sets["val"].batch(np.arange(2)))
    moved = model.denormalise(feats)
    moved[..., :66] += torch.tensor([1.5, 0.0, -2.0]).repeat(22)          # the whole body 2.5 m away
    a, b = model.to_channels(feats), model.to_channels(model.normalise(moved))
    assert not torch.allclose(a[:, 0:3, 0], b[:, 0:3, 0])                  # the pelvis still says where
    assert torch.allclose(a[:, :, 1:], b[:, :, 1:], atol=1e-4)             # every other joint does not
    back = model.from_channels(a, torch.zeros(2, feats.shape[1], 4))
    assert torch.allclose(back[..., :258], feats[..., :258], atol=1e-4)


def _eval_md_vq_row() -> tuple[float, float]:
    """(FID, MPJPE mm) of the VQ reconstruction row in the shipped EVAL.md."""
    text = (SHIPPED / "EVAL.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| VQ reconstruction |") and "±" in line)
    fid = float(row.split("|")[5].split("±")[0])
    mpjpe = re.search(r"MPJPE ([\d.]+) mm", text)
    assert mpjpe is not None
    return fid, float(mpjpe.group(1))


def test_held_out_report_reproduces_eval_md_on_the_real_test_windows() -> None:
    report = HeldOutReport()
    assert [p.split for p in report.splits] == ["val", "test"]
    test_windows = report.splits[1].windows
    assert {w.name.split("@")[0] for w in test_windows} == {"salsa_14", "salsa_15"} and len(test_windows) == 31
    shipped, _ = load_vq(SHIPPED / "vq.pt")
    rows = report(shipped)
    fid, mpjpe = _eval_md_vq_row()
    assert rows["test"]["mpjpe_mm"] == pytest.approx(mpjpe, abs=0.05)
    assert rows["test"]["fid"] == pytest.approx(fid, abs=0.01)
    for row in rows.values():
        assert 0 < row["root_mm"] < row["mpjpe_mm"] * 1.5 and 0 < row["pose_mm"] < row["mpjpe_mm"] * 1.5
    untrained = VQVAE(replace(shipped.cfg, dropout=0.0))
    untrained.set_normalisation(shipped.mean, shipped.std)
    untrained.quantizer.codebook.normal_()
    worse = report(untrained)["test"]
    assert worse["mpjpe_mm"] > 2 * mpjpe and worse["fid"] > 2 * fid


def test_intermask_train_vq_reaches_the_trainer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command-line path (``intermask train vq``) imports the trainer from vendor_models.training."""
    from vendor_models.cli.main import main
    assert main(["train", "vq", "--progress", str(tmp_path)]) == 0
    assert "nothing logged yet" in capsys.readouterr().out


def test_projection_fits_the_later_reports_and_says_when_it_cannot() -> None:
    def reports(errors: list[float]) -> list[tuple[int, float, float]]:
        return report_curve([{"step": 500 * (i + 1), "wall_s": 1500.0 * (i + 1), "test": {"mpjpe_mm": e}}
                             for i, e in enumerate(errors)])
    falling = [130.0 - 10.0 * np.log(500 * (i + 1)) + 62.0 for i in range(6)]     # 130 - 10 ln(step/e^6.2)
    guess = projection(reports(falling))
    assert guess["status"] == "projected" and guess["seconds_per_step"] == pytest.approx(3.0)
    assert guess["step"] == pytest.approx(np.exp((130.0 + 62.0 - 70.0) / 10.0), rel=1e-6)
    assert projection(reports([120.0, 110.0, 111.0, 112.0]))["status"].startswith("not reached")
    assert projection(reports([90.0, 75.0, 69.0]))["status"] == "reached"
    assert projection(reports([90.0]))["status"] == "too few points to fit"
