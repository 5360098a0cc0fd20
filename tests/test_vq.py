"""The motion VQ-VAE: shapes, quantiser behaviour, learning on real windows, checkpoints, resumable training."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from vendor_models.data.build import load_split
from vendor_models.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from vendor_models.models.vq import VQVAE
from vendor_models.models.vq.config import (
    PRESETS,
    VQConfig,
    VQPreset,
    VQTrainConfig,
    config_from_dict,
    config_to_dict,
)
from vendor_models.models.vq.losses import vq_losses
from vendor_models.models.vq.persist import load_vq, vq_checkpoint
from vendor_models.models.vq.quantizer import EMAQuantizer
from vendor_models.motion.features import joint_channels
from vendor_models.training import train_vq
from vendor_models.training.datasets import WindowSet, feature_stats, person_sequences, segment_starts

torch.set_num_threads(1)
TINY = VQConfig(width=16, code_dim=8, codebook_size=32, dropout=0.0)


@pytest.fixture(scope="module")
def real_sequences() -> list[np.ndarray]:
    """Per-person feature sequences of one real salsa pair from the training split."""
    return person_sequences(load_split("train", people=2)[:1])


@pytest.fixture(scope="module")
def real_stats(real_sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return feature_stats(real_sequences)


@pytest.fixture(scope="module")
def real_windows(real_sequences: list[np.ndarray], real_stats: tuple[np.ndarray, np.ndarray]) -> WindowSet:
    return WindowSet.build(real_sequences, *real_stats, window=64, stride=10)


def tiny_model(stats: tuple[np.ndarray, np.ndarray] | None = None, cfg: VQConfig = TINY) -> VQVAE:
    torch.manual_seed(0)
    model = VQVAE(cfg)
    if stats is not None:
        model.set_normalisation(*(torch.from_numpy(v) for v in stats))
    return model


def test_shapes_time_down_4_and_joints_22_to_5() -> None:
    model = tiny_model().eval()
    for frames in (64, 20, 300):
        feats = torch.randn(2, frames, 262)
        codes = model.encode(feats)
        assert codes.shape == (2, 5, frames // 4) and codes.dtype == torch.int64
        assert model.decode(codes).shape == (2, frames, 262)
    z = model.encoder(model.to_channels(torch.randn(1, 64, 262)))
    assert z.shape == (1, TINY.code_dim, 5, 16)


def test_bad_inputs_are_named() -> None:
    model = tiny_model().eval()
    with pytest.raises(ValueError, match="multiple of 4"):
        model.encode(torch.randn(1, 62, 262))
    with pytest.raises(ValueError, match="262"):
        model.encode(torch.randn(1, 64, 258))
    with pytest.raises(ValueError, match="codes must be"):
        model.decode(torch.zeros(1, 4, 16, dtype=torch.long))
    with pytest.raises(ValueError, match="code ids"):
        model.decode(torch.full((1, 5, 16), TINY.codebook_size))


def test_joint_channels_match_the_numpy_feature_layout() -> None:
    model = tiny_model()
    feats = torch.randn(2, 8, 262)
    assert np.array_equal(model.to_channels(feats).permute(0, 3, 2, 1).numpy(), joint_channels(feats.numpy()))
    back = model.from_channels(model.to_channels(feats), torch.zeros(2, 8, 4))
    assert torch.equal(back[..., :258], feats[..., :258])
    # contacts come from the head as probabilities, expressed in normalised space
    assert torch.allclose(model.denormalise(back)[..., 258:], torch.full((2, 8, 4), 0.5))


def quantizer_with(codebook: list[list[float]], decay: float) -> EMAQuantizer:
    q = EMAQuantizer(len(codebook), len(codebook[0]), decay=decay, dead_threshold=1.0)
    q.codebook.copy_(torch.tensor(codebook))
    q.ema_sum.copy_(q.codebook * 10)
    q.ema_count.fill_(10.0)
    q.initialised.fill_(True)
    return q


def test_ema_moves_codes_to_the_mean_of_their_vectors() -> None:
    q = quantizer_with([[0.0, 0.0], [10.0, 10.0]], decay=0.5)
    x = torch.tensor([[1.0, 1.0]] * 20 + [[8.0, 8.0]] * 20)
    for _ in range(30):
        out = q(x)
    assert out.codes[:20].eq(0).all() and out.codes[20:].eq(1).all()
    assert torch.allclose(q.codebook, torch.tensor([[1.0, 1.0], [8.0, 8.0]]), atol=1e-3)
    assert float(out.perplexity) == pytest.approx(2.0, abs=1e-4)


def test_dead_codes_are_reseeded_from_encoder_outputs() -> None:
    torch.manual_seed(0)
    q = quantizer_with([[0.0, 0.0], [50.0, 50.0], [-50.0, 50.0], [50.0, -50.0]], decay=0.5)
    x = torch.randn(64, 2) * 0.1
    for _ in range(5):             # counts of codes 1..3 decay 10 → 0.31: they die and are re-seeded
        q(x)
    reseeded = q.codebook[1:]
    assert reseeded.abs().max() < 1.0                       # now among the data, no longer at ±50
    distances = torch.cdist(reseeded, x).min(dim=1).values  # each is (a jittered copy of) an input row
    assert (distances < 0.05).all()
    q.eval()
    before = q.codebook.clone()
    q(torch.randn(8, 2) * 100)
    assert torch.equal(before, q.codebook)                  # no updates outside training


def test_straight_through_gradient_reaches_the_input() -> None:
    q = quantizer_with([[0.0, 0.0], [1.0, 1.0]], decay=0.9).eval()
    x = torch.tensor([[0.2, 0.1], [0.9, 0.7]], requires_grad=True)
    out = q(x)
    assert torch.equal(out.quantised.detach(), torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    out.quantised.sum().backward()
    assert x.grad is not None and torch.equal(x.grad, torch.ones_like(x))


def test_windows_are_segmented_mirrored_and_normalised(real_sequences: list[np.ndarray], real_windows: WindowSet) -> None:
    assert segment_starts(200) == [0]
    assert segment_starts(700) == [0, 150, 300, 399]
    assert all(s.shape[1] == 262 and s.dtype == np.float32 for s in real_sequences)
    assert len(real_sequences) % 4 == 0                     # 2 people × (original + mirror) per segment
    # mirrored copy: x of positions negated, left/right swapped (pelvis x flips sign)
    assert np.allclose(real_sequences[1][:, 0], -real_sequences[0][:, 0], atol=1e-5)
    frames = np.concatenate(real_windows.sequences)
    assert abs(frames.mean()) < 1e-3 and frames.std(0).max() < 1.01
    batch_a = real_windows.sample(4, seed=1, step=7)
    assert batch_a.shape == (4, 64, 262) and np.array_equal(batch_a, real_windows.sample(4, seed=1, step=7))
    with pytest.raises(ValueError, match="multiple of 4"):
        WindowSet.build(real_sequences, np.zeros(262), np.ones(262), window=62, stride=10)


def test_a_few_steps_reduce_the_loss_on_real_windows(real_windows: WindowSet,
                                                     real_stats: tuple[np.ndarray, np.ndarray]) -> None:
    model = tiny_model(real_stats).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = torch.from_numpy(real_windows.sample(8, seed=0, step=0))
    losses = []
    for _ in range(30):
        terms = vq_losses(model, batch, model(batch))
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
        losses.append(float(terms["total"].detach()))
        assert all(torch.isfinite(v) for v in terms.values())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses


def test_checkpoint_round_trip(tmp_path: Path, real_windows: WindowSet) -> None:
    model = tiny_model().train()
    model.set_normalisation(torch.randn(262), torch.rand(262) + 0.5)
    model(torch.from_numpy(real_windows.sample(4, 0, 0)))   # initialise the codebook from data
    path = save_checkpoint(tmp_path / "vq.pt", vq_checkpoint(model.eval(), {"steps": 3, "seed": 1}))
    loaded, ckpt = load_vq(path)
    feats = torch.from_numpy(real_windows.sample(2, 0, 1))
    assert torch.equal(model.encode(feats), loaded.encode(feats))
    assert torch.equal(model.decode(model.encode(feats)), loaded.decode(loaded.encode(feats)))
    assert ckpt.meta == {"steps": 3, "seed": 1} and loaded.cfg == TINY and not loaded.training
    assert ckpt.mean is not None and np.array_equal(ckpt.mean, model.mean.numpy())
    assert ckpt.std is not None and np.array_equal(ckpt.std, model.std.numpy())
    assert config_from_dict(VQPreset, json.loads(json.dumps(config_to_dict(PRESETS["paper"])))) == PRESETS["paper"]


def test_checkpoint_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="nope.pt"):
        load_vq(missing)
    good = save_checkpoint(tmp_path / "vq.pt", vq_checkpoint(tiny_model(), {}))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:500])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    for bad in (truncated, garbage):
        with pytest.raises(CheckpointError, match=bad.name):
            load_vq(bad)
    with pytest.raises(CheckpointError, match="'transformer'"):
        load_checkpoint(good, kind="transformer")
    payload = torch.load(good, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="future.pt has format version 99"):
        load_vq(tmp_path / "future.pt")
    other = replace(TINY, width=24)
    ckpt = vq_checkpoint(tiny_model(), {})
    ckpt.config = config_to_dict(other)
    save_checkpoint(tmp_path / "mismatch.pt", ckpt)
    with pytest.raises(CheckpointError, match="mismatch.pt does not match"):
        load_vq(tmp_path / "mismatch.pt")


def test_learning_rate_schedule() -> None:
    t = VQTrainConfig(lr=1e-3, warmup_steps=10, milestones=(0.5, 0.75))
    assert train_vq.learning_rate(t, 0, 0.0) == pytest.approx(1e-4)
    assert train_vq.learning_rate(t, 20, 0.4) == pytest.approx(1e-3)
    assert train_vq.learning_rate(t, 20, 0.6) == pytest.approx(1e-4)
    assert train_vq.learning_rate(t, 20, 0.8) == pytest.approx(1e-5)


def test_training_run_saves_logs_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             real_windows: WindowSet) -> None:
    """The real training loop on real windows (tiny network, few steps), then resumed to more steps."""
    tiny = VQPreset(TINY, VQTrainConfig(steps=4, batch_size=4, warmup_steps=2, log_every=1, save_every=2,
                                        eval_every=2, threads=1))
    small_eval = WindowSet(real_windows.sequences, real_windows.index[::40], 64)
    stats = (np.zeros(262, np.float32), np.ones(262, np.float32))
    sets = {"train": real_windows, "val": small_eval, "test": small_eval}
    monkeypatch.setattr(train_vq, "preset", lambda name: tiny)
    data = {name: {"clips": [], "sequences": len(s.sequences), "windows": len(s)} for name, s in sets.items()}
    monkeypatch.setattr(train_vq, "load_windows", lambda *a: (sets, *stats, data))
    out = tmp_path / "run"
    assert train_vq.main(["--out", str(out)]) == 0
    first = load_checkpoint(out / "last.pt", kind="vq", with_train_state=True)
    assert first.train_state is not None and first.train_state["step"] == 4 and first.meta["steps"] == 4
    assert train_vq.main(["--out", str(out), "--resume", "--steps", "6"]) == 0
    resumed = load_checkpoint(out / "last.pt", kind="vq", with_train_state=True)
    assert resumed.train_state is not None and resumed.train_state["step"] == 6
    assert resumed.meta["wall_time_s"] >= first.meta["wall_time_s"]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6] and all("rec" in r and "total" in r for r in log)
    assert "val_mpjpe_mm" in log[1] and log[1]["val_mpjpe_mm"] > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["test"]["mpjpe_mm"] > 0
    best, _ = load_vq(out / "best.pt")
    assert best.cfg == TINY
