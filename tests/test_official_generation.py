"""An imported official model generates like ours: API, seeds, variations, reaction, cancel, and end to end.

The fake release of ../shared/data/official_intermask_fixture is imported into a temporary model store; the
end-to-end tests drive ``intermask generate/react --model NAME`` (real bpy, the real worker process) into a .blend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from official_fixture import FIXTURE, STATS, TRANSFORMER, write_vit_l14_336
from test_headless import DATA, PROMPT, inspect, intermask

from vendor_models.generation.generator import Cancelled, Generator
from vendor_models.models.official import importer
from vendor_models.models.official.codec import OfficialCodec
from vendor_models.models.text.clip_encoder import OfficialClipEncoder
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.contacts import detect_contacts
from vendor_models.motion.model_store import ENV_VAR
from vendor_models.motion.protocol import SamplerSettings

torch.set_num_threads(1)
pytestmark = [pytest.mark.skipif(not FIXTURE.is_dir(), reason=f"official fixture not found at {FIXTURE}"),
              pytest.mark.timeout(600)]
NAME = "fixture-official"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("official")
    clip = write_vit_l14_336(root / "ViT-L-14-336px.pt")
    importer.import_official(FIXTURE, clip, STATS, name=NAME, transformer=TRANSFORMER, store=root / "models")
    clip.unlink()
    return root / "models"


@pytest.fixture(scope="module")
def official(store: Path) -> Generator:
    return Generator.load(store / NAME, "cpu")


def test_the_folder_loads_as_the_official_pipeline(official: Generator) -> None:
    assert isinstance(official.encoder, OfficialClipEncoder) and isinstance(official.vq, OfficialCodec)
    assert official.name == NAME and official.transformer.config.official_position_code
    assert official.sampler_defaults() == (2.0, 20) and official.sampler_defaults(react=True) == (2.0, 10)
    assert official.top_k == 0.9
    vectors = official.encoder.encode(["two people hug", "one person pushes the other"])
    assert vectors.shape == (2, 768) and vectors.dtype == torch.float32 and not torch.allclose(vectors[0], vectors[1])


def test_seeds_variations_and_official_defaults(official: Generator) -> None:
    sampler = SamplerSettings(seed=3, variations=2)
    first = official.generate("two people hug", seconds=2.0, sampler=sampler)
    again = official.generate("two people hug", seconds=2.0, sampler=sampler)
    alone = official.generate("two people hug", seconds=2.0, sampler=SamplerSettings(seed=4))
    clip = first.clips[0]
    assert clip.positions.shape == (60, 2, 22, 3) and clip.meta["steps"] == 20 and clip.meta["guidance"] == 2.0
    assert np.array_equal(clip.positions, again.clips[0].positions)
    # variation 1 of seed 3 is seed 4 alone: each variation is decoded on its own, at batch 1
    assert np.array_equal(first.clips[1].positions, alone.clips[0].positions)
    assert not np.allclose(first.clips[0].positions, first.clips[1].positions)
    assert np.abs(clip.positions[0, 0, 0, [0, 2]]).max() < 1e-5             # placed at the origin like ours


def test_contacts_come_from_the_positions(official: Generator) -> None:
    raw = official.vq.denormalise(official.vq.decode(torch.zeros(1, 5, 6, dtype=torch.long)))
    assert torch.allclose(raw[0, :, 258:], official.vq.mean[258:].expand(24, 4))    # the decoder's constant
    feats = official._decode(torch.zeros(1, 5, 6, dtype=torch.long))
    assert np.array_equal(feats[0, :, 258:] > 0.5, detect_contacts(feats[0, :, :66].reshape(24, 22, 3)))


def test_reaction_keeps_the_partner(official: Generator) -> None:
    made = official.generate("two people dance", seconds=2.0, sampler=SamplerSettings(seed=1)).clips[0]
    partner = Clip(made.positions[:, :1], made.rotations[:, :1], made.contacts[:, :1], made.fps)
    out = official.react(partner, "the other one follows", sampler=SamplerSettings(seed=2))
    clip = out.clips[0]
    assert clip.num_people == 2 and clip.meta["steps"] == 10 and clip.meta["mode"] == "react"
    assert np.array_equal(clip.positions[:, 0], partner.positions[: clip.num_frames, 0])


def test_cancel_takes_effect_within_one_step(official: Generator) -> None:
    steps: list[int] = []
    with pytest.raises(Cancelled):
        official.generate("two people hug", seconds=2.0, progress=lambda i, n, stage: steps.append(i),
                          should_stop=lambda: bool(steps))
    assert steps == [1]


# --- end to end through the command line, the worker and bpy ------------------------------------------------

def test_generate_with_the_imported_model_into_a_blend(store: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(store))
    done = intermask("generate", PROMPT, "--model", NAME, "--seconds", "1", "--seed", "2", "--device", "cpu",
                     "--out", "official.blend", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["frames"] == 32 and summary["armatures"] == ["IM_Person_A", "IM_Person_B"]
    blend = inspect(tmp_path / "official.blend")
    assert all(blend["armatures"][name]["keys"] > 0 for name in summary["armatures"])


def test_react_with_the_imported_model_to_a_real_partner(store: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(store))
    done = intermask("react", "--partner", str(DATA / "bvh_daz/01.bvh"), "--partner-fps", "60", "--partner-frames",
                     "2:120", PROMPT, "--model", NAME, "--device", "cpu", "--out", "react.blend", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    partner, person_b = summary["armatures"]
    blend = inspect(tmp_path / "react.blend")
    assert blend["armatures"][person_b]["keys"] > 0 and blend["armatures"][partner]["keys"] > 0


def test_an_unknown_model_is_named_with_the_choices(store: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(store))
    done = intermask("generate", PROMPT, "--model", "nope", "--out", "x.blend", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "no model named 'nope'" in done.stderr and NAME in done.stderr and not (tmp_path / "x.blend").exists()


def test_sample_with_the_imported_model(store: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(store))
    done = subprocess.run([sys.executable, "-m", "vendor_models", "sample", "two people hug", "--model", NAME,
                           "--seconds", "1", "--device", "cpu", "--out", str(tmp_path / "c.npz")],
                          capture_output=True, text=True, timeout=280, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert Clip.load(tmp_path / "c.npz").meta["model"] == NAME


def test_bench_runs_the_imported_model_with_its_own_settings(store: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(store))
    done = subprocess.run([sys.executable, "-m", "vendor_models", "bench", "--model", NAME, "--runs", "1",
                           "--seconds", "1", "--threads", "1", "--device", "cpu", "--json"],
                          capture_output=True, text=True, timeout=280, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["model"] == NAME and report["steps"] == 20 and report["threads"] == 1
    assert report["goal"]["clip_10s_max_s"] == 10.0 and report["goal"]["peak_rss_max_mb"] == 1536.0
