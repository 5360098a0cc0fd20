"""The evaluator: input layout, padding, contrastive learning on real windows, checkpoints, windows, caching."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vendor_models.data.build import load_split
from vendor_models.data.captioner import measure
from vendor_models.evaluation.evaluator import (
    EVALUATOR_DIR,
    MOTION_DIM,
    PRESETS,
    Evaluator,
    EvaluatorConfig,
    EvaluatorError,
    contrastive_loss,
    load_evaluator,
    motion_input,
    save_evaluator,
)
from vendor_models.evaluation.metrics import r_precision
from vendor_models.evaluation.sentences import SentenceCache
from vendor_models.evaluation.windows import load_windows, window_features
from vendor_models.models.text.sentence_encoder import MiniLMEncoder

TINY = EvaluatorConfig(name="tiny", width=32, layers=1, heads=2, ff=64, latent=16, text_hidden=32, dropout=0.0)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def test_windows():
    return load_windows(load_split("test", people=2)[:1], stride=60)


class CountingEncoder:
    """The real MiniLM encoder, counting how many sentences it had to embed."""

    def __init__(self) -> None:
        self.inner = MiniLMEncoder()
        self.name = self.inner.name
        self.count = 0

    def encode(self, texts: list[str]) -> torch.Tensor:
        self.count += len(texts)
        return self.inner.encode(texts)


def test_motion_input_drops_contacts_and_keeps_person_order():
    feats = np.zeros((1, 3, 2, 262), np.float32)
    feats[..., 0, :] = 1.0
    feats[..., 1, :] = 2.0
    feats[..., 258:262] = 9.0  # contacts must vanish
    x = motion_input(feats)
    assert x.shape == (1, 3, MOTION_DIM) == (1, 3, 516)
    assert (x[..., :258] == 1).all() and (x[..., 258:] == 2).all()
    with pytest.raises(EvaluatorError, match="pair features"):
        motion_input(np.zeros((1, 3, 262)))


def test_frames_past_the_length_do_not_change_the_embedding():
    model = Evaluator(TINY).eval()
    x = torch.randn(2, 40, MOTION_DIM)
    y = x.clone()
    y[:, 30:] = 100.0
    lengths = torch.tensor([30, 30])
    with torch.no_grad():
        assert torch.allclose(model.motion_embedding(x, lengths), model.motion_embedding(y, lengths), atol=1e-5)
        assert not torch.allclose(model.motion_embedding(x, torch.tensor([40, 40])),
                                  model.motion_embedding(y, torch.tensor([40, 40])), atol=1e-3)


def test_contrastive_training_on_real_windows_learns_to_retrieve(test_windows, tmp_path):
    windows = test_windows[:12]
    text = SentenceCache(MiniLMEncoder(), tmp_path).encode([w.captions[0] for w in windows])
    motion = torch.from_numpy(motion_input(window_features([w.clip for w in windows])))
    model = Evaluator(TINY)
    flat = motion.reshape(-1, MOTION_DIM)
    model.set_motion_stats(flat.mean(0).numpy(), flat.std(0).numpy())
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    lengths = torch.full((len(windows),), motion.shape[1])
    losses = []
    for _ in range(60):
        loss = contrastive_loss(model.motion_embedding(motion, lengths), model.text_embedding(torch.from_numpy(text)))
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    top = r_precision(model.embed_texts(text), model.embed_motions(window_features([w.clip for w in windows])),
                      np.random.default_rng(0), batch_size=12)
    assert top[0] > 0.5  # chance is 1/12 on the data it was fitted to


def test_checkpoint_round_trip_and_clear_errors(tmp_path, test_windows):
    model = Evaluator(TINY)
    save_evaluator(model, tmp_path, {"steps": 3})
    loaded, info = load_evaluator(tmp_path)
    assert info == {"steps": 3} and loaded.cfg == TINY
    feats = window_features([w.clip for w in test_windows[:2]])
    assert np.allclose(model.embed_motions(feats), loaded.embed_motions(feats), atol=1e-6)
    with pytest.raises(EvaluatorError, match="evaluator.pt"):
        load_evaluator(tmp_path / "nowhere")
    (tmp_path / "evaluator.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(EvaluatorError, match=str(tmp_path / "evaluator.pt")):
        load_evaluator(tmp_path)


def test_interhuman_preset_has_interclip_sizes_and_its_code_path_takes_300_frames():
    big = PRESETS["interhuman"]
    assert (big.width, big.layers, big.heads, big.ff, big.latent, big.pool) == (1024, 8, 8, 2048, 512, 1)
    narrow = dataclasses.replace(big, width=32, heads=2, ff=64, layers=1, latent=16, text_hidden=32)
    model = Evaluator(narrow).eval()
    with torch.no_grad():
        out = model.motion_embedding(torch.randn(2, 300, MOTION_DIM), torch.tensor([300, 120]))
    assert out.shape == (2, 16)
    with pytest.raises(EvaluatorError, match="longer"):
        model.motion_embedding(torch.randn(1, 302, MOTION_DIM), torch.tensor([302]))


def test_augmented_windows_are_recaptioned_so_mirrored_spins_turn_the_other_way():
    windows = load_windows(load_split("test", people=2)[:1], stride=60, augment=True)
    flips = 0
    for i in range(0, len(windows), 4):
        base, mirrored, swapped = windows[i], windows[i + 1], windows[i + 2]
        assert mirrored.name.endswith("+mirror") and swapped.name.endswith("+swap")
        a = measure(base.clip.positions, base.clip.contacts, 30.0)
        b = measure(mirrored.clip.positions, mirrored.clip.contacts, 30.0)
        c = measure(swapped.clip.positions, swapped.clip.contacts, 30.0)
        assert c.spin_count == a.spin_count[::-1]  # the follow's spin is now slot 0's
        if a.spin_count[1]:
            assert np.sign(b.spin_deg[1]) == -np.sign(a.spin_deg[1])
            flips += 1
    assert flips > 0  # the salsa test clip has spins


def test_sentence_cache_reuses_vectors_from_disk(tmp_path):
    first = CountingEncoder()
    texts = ["the lead spins clockwise.", "the couple hold hands."]
    vectors = SentenceCache(first, tmp_path).encode(texts + texts[:1])
    assert first.count == 2 and vectors.shape == (3, 384)
    second = CountingEncoder()
    again = SentenceCache(second, tmp_path).encode(texts)
    assert second.count == 0 and np.allclose(again, vectors[:2])


def test_shipped_evaluator_ranks_real_val_windows_above_chance():
    if not (EVALUATOR_DIR / "evaluator.pt").is_file():
        pytest.skip("no shipped evaluator yet")
    model, info = load_evaluator()
    assert info["best"]["val_top123"][2] > 3 / 16 * 1.5
    windows = load_windows(load_split("val", people=2), stride=60)[:16]
    text = SentenceCache(MiniLMEncoder()).encode([w.captions[0] for w in windows])
    top = r_precision(model.embed_texts(text), model.embed_motions(window_features([w.clip for w in windows])),
                      np.random.default_rng(0), batch_size=16)
    assert top[2] > 3 / 16


def _untrained_checkpoint(folder):
    """A real checkpoint folder (VQ + transformer files written by the real save code), untrained weights."""
    from vendor_models.models.checkpoint import save_checkpoint
    from vendor_models.models.transformer.config import preset as tr_preset
    from vendor_models.models.transformer.model import InterMTransformer
    from vendor_models.models.transformer.persist import transformer_checkpoint
    from vendor_models.models.vq.config import preset as vq_preset
    from vendor_models.models.vq.persist import vq_checkpoint
    from vendor_models.models.vq.vqvae import VQVAE
    save_checkpoint(folder / "vq.pt", vq_checkpoint(VQVAE(vq_preset("small").model), {}))
    model = InterMTransformer(tr_preset("small").model)
    save_checkpoint(folder / "transformer.pt", transformer_checkpoint(model, MiniLMEncoder.name, {}))
    return folder


@pytest.mark.slow
def test_suite_runs_every_row_and_writes_table_and_plots(tmp_path):
    from vendor_models.evaluation.report import markdown, plots
    from vendor_models.evaluation.suite import Settings, run
    from vendor_models.generation.generator import Generator
    generator = Generator.load(_untrained_checkpoint(tmp_path), device="cpu")
    settings = Settings(stride=480, replications=2, reaction_windows=2, sweep_windows=2, sweep_steps=(1,),
                        sweep_guidance=(1.0,), steps=1)
    result = run(generator, generator.vq, Evaluator(TINY), SentenceCache(MiniLMEncoder(), tmp_path), settings,
                 log=lambda message: None)
    rows = result["rows"]
    assert list(rows) == ["ground truth", "generated", "reaction", "random train", "nearest by text",
                          "VQ reconstruction"]
    assert rows["generated"]["metrics"]["fid"]["replications"] == 2
    assert "multimodality" in rows["generated"]["metrics"] and rows["reaction"]["windows"] == 2
    assert rows["ground truth"]["physical"]["partner_distance_w1"] == 0.0
    assert rows["VQ reconstruction"]["mpjpe_mm"] > 0
    text = markdown(result, {})
    assert "| generated |" in text and "MPJPE" in text
    assert [p.name for p in plots(result, tmp_path / "out")] == ["metrics_vs_steps.png", "metrics_vs_guidance.png"]


def test_eval_command_names_a_missing_evaluator(tmp_path, capsys):
    from vendor_models.cli import evaluate as eval_cli
    assert eval_cli.main(["--quick", "--evaluator", str(tmp_path)]) == 2
    assert str(tmp_path / "evaluator.pt") in capsys.readouterr().err
