"""The generation API: bad input gets its error code, output clips have the promised shape and meta,
seeds reproduce, and a reaction keeps the partner exactly and lives in the partner's world frame.

A tiny randomly initialised checkpoint (written by the real save code) keeps these fast; the last tests
run the shipped default checkpoint end to end.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from vendor_models.generation.generator import DEFAULT_CHECKPOINT, Cancelled, GenerationError, Generator, frames_for
from vendor_models.models.checkpoint import save_checkpoint
from vendor_models.models.transformer.config import TransformerConfig
from vendor_models.models.transformer.model import InterMTransformer
from vendor_models.models.transformer.persist import transformer_checkpoint
from vendor_models.models.vq import VQVAE
from vendor_models.models.vq.config import VQConfig
from vendor_models.models.vq.persist import vq_checkpoint
from vendor_models.motion.canonical import facing_angle
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.protocol import DEFAULT_GUIDANCE, MAX_PROMPT_CHARS, ErrorCode, SamplerSettings
from vendor_models.motion.rotations import quat_multiply, quat_rotate, yaw_quat

torch.set_num_threads(1)
SALSA = Path(__file__).resolve().parents[1] / "cache" / "clips" / "salsa_13.npz"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny")
    vq = VQVAE(VQConfig(width=16, codebook_size=32, code_dim=8, res_depth=1))
    vq.quantizer.codebook.normal_()                      # an untrained codebook is all zeros
    save_checkpoint(folder / "vq.pt", vq_checkpoint(vq.eval(), {}))
    tr = InterMTransformer(TransformerConfig(num_codes=32, token_dim=16, dim=16, heads=2, layers=1, ff=32))
    for name, p in tr.named_parameters():
        if ".mod_" in name or "head_mod" in name:
            p.data.normal_(0, 0.3)
    save_checkpoint(folder / "transformer.pt", transformer_checkpoint(tr, "all-MiniLM-L6-v2", {}))
    (folder / "model.json").write_text('{"name": "tiny-test"}')
    return folder


@pytest.fixture(scope="module")
def tiny(tiny_dir: Path) -> Generator:
    return Generator.load(tiny_dir, "cpu")


def partner_clip(frames: int = 100, people: int = 1) -> Clip:
    """A real person from the held-out salsa clip, moved to an arbitrary place and heading."""
    clip = Clip.load(SALSA)
    turn = yaw_quat(np.asarray(2.0))
    pos = quat_rotate(turn, clip.positions[:frames, :people].astype(np.float64)) + np.array([3.0, 0.2, -1.5])
    rot = clip.rotations[:frames, :people].astype(np.float64).copy()
    rot[:, :, 0] = quat_multiply(turn, rot[:, :, 0])
    return Clip(pos, rot, clip.contacts[:frames, :people], 30.0, {"name": "partner"})


def code_of(call) -> str:
    with pytest.raises(GenerationError) as info:
        call()
    return info.value.code


def test_bad_input_codes(tiny: Generator) -> None:
    assert code_of(lambda: tiny.generate("")) == ErrorCode.BAD_PROMPT
    assert code_of(lambda: tiny.generate("   \n")) == ErrorCode.BAD_PROMPT
    assert code_of(lambda: tiny.generate("x", prompts=["only one"])) == ErrorCode.BAD_PROMPT
    assert code_of(lambda: tiny.generate("dance", seconds=0.5)) == ErrorCode.BAD_SECONDS
    assert code_of(lambda: tiny.generate("dance", seconds=10.5)) == ErrorCode.BAD_SECONDS
    assert code_of(lambda: tiny.generate("dance", sampler=SamplerSettings(variations=0))) == ErrorCode.BAD_REQUEST
    assert code_of(lambda: tiny.generate("dance", sampler=SamplerSettings(steps=0))) == ErrorCode.BAD_REQUEST
    assert code_of(lambda: tiny.react(partner_clip(people=2), "dance")) == ErrorCode.BAD_PARTNER
    assert code_of(lambda: tiny.react(partner_clip(frames=20), "dance")) == ErrorCode.BAD_PARTNER
    assert code_of(lambda: tiny.react("partner.npz", "dance")) == ErrorCode.BAD_PARTNER  # type: ignore[arg-type]
    assert code_of(lambda: tiny.react(partner_clip(), " ")) == ErrorCode.BAD_PROMPT


def test_checkpoint_errors_name_the_file(tiny_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(GenerationError, match="vq.pt") as info:
        Generator.load(tmp_path, "cpu")
    assert info.value.code == ErrorCode.CHECKPOINT
    (tmp_path / "vq.pt").write_bytes((tiny_dir / "vq.pt").read_bytes())
    (tmp_path / "transformer.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(GenerationError, match="transformer.pt") as info:
        Generator.load(tmp_path, "cpu")
    assert info.value.code == ErrorCode.CHECKPOINT
    with pytest.raises(GenerationError, match="quantum"):
        Generator.load(tiny_dir, "quantum")


def test_long_and_non_english_prompts_warn(tiny: Generator) -> None:
    out = tiny.generate("two people dance " * 40, seconds=1, sampler=SamplerSettings(steps=2))
    assert any(str(MAX_PROMPT_CHARS) in w for w in out.warnings)
    assert len(out.clips[0].meta["text"]) == MAX_PROMPT_CHARS
    assert any("English" in w for w in tiny.generate("deux personnes dansent la salsa", seconds=1, sampler=SamplerSettings(steps=2)).warnings)


def test_clips_shape_meta_and_seeds(tiny: Generator) -> None:
    assert frames_for(2.1) == 64 and frames_for(10) == 300 and frames_for(1) == 32
    steps_seen: list[tuple[int, int, str]] = []
    out = tiny.generate("they spin", prompts=["leads", "follows"], seconds=2.1, sampler=SamplerSettings(seed=5, variations=2, steps=3),
                        progress=lambda *a: steps_seen.append(a))
    a, b = out.clips
    assert a.positions.shape == (64, 2, 22, 3) and a.fps == 30 and a.num_frames % 4 == 0
    assert a.meta["seed"] == 5 and a.meta["variation"] == 0 and b.meta["variation"] == 1
    assert a.meta["model"] == "tiny-test" and a.meta["guidance"] == DEFAULT_GUIDANCE and a.meta["steps"] == 3
    assert a.meta["text"] == "they spin. The first person leads. The second person follows."
    assert not np.allclose(a.positions, b.positions)
    again = tiny.generate("they spin", prompts=["leads", "follows"], seconds=2.1, sampler=SamplerSettings(seed=5, steps=3))
    np.testing.assert_array_equal(again.clips[0].positions, a.positions)
    assert steps_seen[:3] == [(1, 3, "sampling"), (2, 3, "sampling"), (3, 3, "sampling")]
    assert set(out.timings) >= {"text_s", "sampling_s", "decode_s", "total_s"}


def test_the_thread_that_samples_flushes_denormals(tiny: Generator) -> None:
    """The flag is per thread and the worker loads on one thread but samples on another, so each job
    sets it where it runs (without, a 10 s clip took 20 % longer in the worker)."""
    denormal = lambda: (torch.tensor([1e-39]) * 1.0).item()  # noqa: E731
    seen: dict[str, float] = {}

    def job(call: str) -> None:
        torch.set_flush_denormal(False)  # a thread that never loaded the model
        seen[f"{call} before"] = denormal()
        if call == "react":
            tiny.react(partner_clip(), "two people dance", sampler=SamplerSettings(steps=1))
        else:
            tiny.generate("two people dance", sampler=SamplerSettings(steps=1))
        seen[call] = denormal()

    for call in ("generate", "react"):
        thread = threading.Thread(target=job, args=(call,))
        thread.start()
        thread.join()
    assert seen["generate before"] > 0 and seen["react before"] > 0
    assert seen["generate"] == 0.0 and seen["react"] == 0.0


def test_cancel_raises_cancelled(tiny: Generator) -> None:
    with pytest.raises(Cancelled) as info:
        tiny.generate("dance", seconds=1, should_stop=lambda: True)
    assert info.value.code == ErrorCode.CANCELLED


def test_reaction_keeps_the_partner_exactly(tiny: Generator) -> None:
    partner = partner_clip(frames=103)
    out = tiny.react(partner, "the other one answers", sampler=SamplerSettings(seed=1, steps=2))
    clip = out.clips[0]
    assert clip.num_people == 2 and clip.num_frames == 100
    np.testing.assert_array_equal(clip.positions[:, 0], partner.positions[:100, 0])
    np.testing.assert_array_equal(clip.rotations[:, 0], partner.rotations[:100, 0])
    assert clip.meta["mode"] == "react" and clip.meta["partner"]["name"] == "partner"


def test_reaction_resamples_and_cuts_long_partners(tiny: Generator) -> None:
    partner = partner_clip(frames=400)
    out = tiny.react(partner, "dance", sampler=SamplerSettings(steps=1))
    assert out.clips[0].num_frames == 300 and any("10 s" in w for w in out.warnings)


# --- the shipped checkpoint ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Generator:
    return Generator.load(DEFAULT_CHECKPOINT, "cpu")


def test_shipped_model_is_deterministic_and_varied(shipped: Generator) -> None:
    out = shipped.generate("two people hold hands and spin", seconds=2, sampler=SamplerSettings(seed=3, variations=2))
    again = shipped.generate("two people hold hands and spin", seconds=2, sampler=SamplerSettings(seed=3))
    np.testing.assert_array_equal(again.clips[0].positions, out.clips[0].positions)
    assert not np.allclose(out.clips[0].positions, out.clips[1].positions)
    clip = out.clips[0]
    assert clip.num_frames == 60 and np.isfinite(clip.positions).all()
    heights = clip.positions[..., 15, 1]                               # heads of both people
    assert 1.2 < float(np.median(heights)) < 2.0                       # upright, metres, Y-up
    # placed where the bake expects it: A starts at the origin facing +Z, the pair's lowest joint on Y = 0
    np.testing.assert_allclose(clip.positions[0, 0, 0, [0, 2]], 0.0, atol=1e-5)
    assert abs(float(facing_angle(clip.positions[0, 0], hips_only=True))) < 1e-4
    assert abs(float(clip.positions[..., 1].min())) < 1e-5


def test_shipped_reaction_stays_with_the_partner(shipped: Generator) -> None:
    partner = partner_clip(frames=121)
    clip = shipped.react(partner, "the follow dances with the lead", sampler=SamplerSettings(seed=0)).clips[0]
    np.testing.assert_array_equal(clip.positions[:, 0], partner.positions[:120, 0])
    gap = np.linalg.norm((clip.positions[:, 1, 0] - clip.positions[:, 0, 0])[:, [0, 2]], axis=-1)
    assert float(np.median(gap)) < 2.5                                  # generated where the partner is
    floor = clip.positions[:, 1, :, 1].min()
    assert abs(floor - partner.positions[..., 1].min()) < 0.25          # on the partner's floor
