"""Our CLIP tokenizer, CLIP text tower and InterMask text head against the official-code references.

The references in ../shared/data/official_intermask_fixture were computed with the official code (see its
README §3-§5, §7): ids must match exactly, floats within atol 1e-4 / rtol 1e-5 (the fp32 noise floor is ~3e-6).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
import torch
from clip_fixtures import fake_clip_state, write_state_dict, write_torchscript

from vendor_models.models.text.clip_tokenizer import (
    CONTEXT_LENGTH,
    EOT_ID,
    SOT_ID,
    ClipTokenizer,
)
from vendor_models.models.text.clip_tower import (
    OPENAI_VIT_L14_336_SHA256,
    VIT_L14_336,
    ClipConditionHead,
    ClipTextTower,
    ClipWeightsError,
    check_clip_for_intermask,
    file_sha256,
    identify_clip,
    is_openai_vit_l14_336_file,
    load_clip_text_state,
    read_clip_state,
)

torch.set_num_threads(1)
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FIXTURE = SHARED / "official_intermask_fixture"
VOCAB = SHARED / "clip" / "bpe_simple_vocab_16e6.txt.gz"
FAKE_CLIP = FIXTURE / "fake_clip_text_w64_l2_h1_fp16.pt"
ATOL, RTOL = 1e-4, 1e-5


def _load(name: str) -> dict:
    return torch.load(FIXTURE / name, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def tokenizer() -> ClipTokenizer:
    return ClipTokenizer(VOCAB)


@pytest.fixture(scope="module")
def official_transformer_state() -> dict[str, torch.Tensor]:
    checkpoint = _load("checkpoints/interhuman/trans_small/model/best_fid.tar")
    return checkpoint["t2m_transformer"]


@pytest.fixture(scope="module")
def head(official_transformer_state: dict[str, torch.Tensor]) -> ClipConditionHead:
    return ClipConditionHead.from_official_state(official_transformer_state)


def _max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


# --- tokenizer -----------------------------------------------------------------------------------------------

def test_tokenizer_reproduces_reference_tensor(tokenizer: ClipTokenizer) -> None:
    prompts = [entry["prompt"] for entry in json.loads((FIXTURE / "tokenizer_reference.json").read_text())["entries"]]
    reference = _load("tokenizer_reference.pt")
    ids = tokenizer(prompts)
    assert ids.dtype == torch.int64 and ids.shape == (25, CONTEXT_LENGTH)
    assert torch.equal(ids, reference["token_ids"])
    assert torch.equal(ids.argmax(dim=-1), reference["eot_index"])


def test_tokenizer_reproduces_reference_json(tokenizer: ClipTokenizer) -> None:
    for entry in json.loads((FIXTURE / "tokenizer_reference.json").read_text())["entries"]:
        row = tokenizer(entry["prompt"])[0]
        eot = entry["eot_index"]
        assert row[: eot + 1].tolist() == entry["ids"], entry["prompt"]
        assert int(row.argmax()) == eot and not row[eot + 1 :].any()
        assert len(tokenizer.encode(entry["prompt"])) + 2 == entry["n_tokens_untruncated"]


def test_literal_special_markers_become_special_ids(tokenizer: ClipTokenizer) -> None:
    """OpenAI's behaviour (the official code's): the EOT pick moves to the first literal marker."""
    hug, now = tokenizer.encode("hug"), tokenizer.encode("now")
    row = tokenizer("Hug <|endoftext|> now <|startoftext|>")[0]
    assert row[:6].tolist() == [SOT_ID, *hug, EOT_ID, *now, SOT_ID, EOT_ID] and int(row.argmax()) == 2


def test_tokenizer_refuses_another_vocab_file(tmp_path: Path) -> None:
    bad = tmp_path / "vocab.txt.gz"
    with gzip.open(bad, "wt", encoding="utf-8") as handle:
        handle.write("#version: 0.2\nt h\nth e</w>\n")
    with pytest.raises(ValueError, match="merge list"):
        ClipTokenizer(bad)


# --- CLIP text tower -----------------------------------------------------------------------------------------

def test_tower_reproduces_reference_features() -> None:
    reference = _load("clip_text_reference.pt")
    tower = ClipTextTower.from_state(load_clip_text_state(FAKE_CLIP))
    assert (tower.shape.width, tower.shape.layers, tower.shape.heads) == (64, 2, 1)
    features = tower(reference["token_ids"])
    assert features.dtype == torch.float32 and features.shape == (25, 77, 64)
    torch.testing.assert_close(features, reference["clip_token_features"], atol=ATOL, rtol=RTOL)


def test_tower_with_one_perturbed_weight_mismatches() -> None:
    reference = _load("clip_text_reference.pt")
    state = load_clip_text_state(FAKE_CLIP)
    state["transformer.resblocks.1.mlp.c_proj.bias"][5] += 0.01
    features = ClipTextTower.from_state(state)(reference["token_ids"])
    assert _max_error(features, reference["clip_token_features"]) > 1e-3


# --- InterMask text head (clipTrans + clipln + EOT pick) ------------------------------------------------------

def test_head_reproduces_reference(head: ClipConditionHead) -> None:
    reference = _load("cliptrans_reference.pt")
    features, ids = reference["input_clip_features"], reference["token_ids"]
    assert ids.argmax(dim=-1).tolist() == [6, 76]
    torch.testing.assert_close(head.refine(features), reference["cliptrans_out"], atol=ATOL, rtol=RTOL)
    condition = head(features, ids)
    assert condition.shape == (2, 768)
    torch.testing.assert_close(condition, reference["text_feat"], atol=ATOL, rtol=RTOL)


def test_head_with_one_perturbed_weight_mismatches(official_transformer_state: dict[str, torch.Tensor]) -> None:
    reference = _load("cliptrans_reference.pt")
    state = dict(official_transformer_state)
    state["clipTrans.layers.0.linear1.bias"] = state["clipTrans.layers.0.linear1.bias"].clone()
    state["clipTrans.layers.0.linear1.bias"][0] += 0.5
    condition = ClipConditionHead.from_official_state(state)(reference["input_clip_features"], reference["token_ids"])
    assert _max_error(condition, reference["text_feat"]) > 1e-3


def test_head_needs_every_official_tensor(official_transformer_state: dict[str, torch.Tensor]) -> None:
    state = {k: v for k, v in official_transformer_state.items() if k != "clipln.bias"}
    with pytest.raises(RuntimeError, match="norm.bias"):
        ClipConditionHead.from_official_state(state)


# --- reading, identifying and refusing CLIP files --------------------------------------------------------------

def test_identify_and_accept_vit_l14_336() -> None:
    state = fake_clip_state()
    assert identify_clip(state) == VIT_L14_336
    assert check_clip_for_intermask(state) == VIT_L14_336
    assert identify_clip(fake_clip_state(grid=16)) == "ViT-L/14"


def test_refuse_text_tower_of_another_width() -> None:
    state = fake_clip_state(text_width=512)
    assert identify_clip(state).startswith("unknown CLIP (ViT image tower 1024 wide, patch 14, 336 px")
    with pytest.raises(ClipWeightsError, match="512-wide text tower.*needs 768") as refused:
        check_clip_for_intermask(state)
    assert isinstance(refused.value, ValueError)
    with pytest.raises(ClipWeightsError, match="64-wide"):
        check_clip_for_intermask(read_clip_state(FAKE_CLIP))
    with pytest.raises(ClipWeightsError, match="no CLIP text tower"):
        check_clip_for_intermask({k: v for k, v in fake_clip_state().items() if k.startswith("visual.")})


def test_loader_reads_torchscript_and_plain_files(tmp_path: Path, head: ClipConditionHead) -> None:
    state = fake_clip_state(layers=1)
    scripted = write_torchscript(tmp_path / "ViT-L-14-336px.pt", state)
    plain = write_state_dict(tmp_path / "plain.pt", state)
    assert scripted.stat().st_size < 20e6 and plain.stat().st_size < 20e6
    assert check_clip_for_intermask(read_clip_state(scripted)) == VIT_L14_336
    text_keys = {k for k in state if not k.startswith(("visual.", "text_projection", "logit_scale"))}
    for path in (scripted, plain):
        text = load_clip_text_state(path)
        assert set(text) == text_keys and all(v.dtype == torch.float32 for v in text.values())
        assert all(torch.equal(text[k], state[k].float()) for k in text_keys)
    tower = ClipTextTower.from_state(load_clip_text_state(scripted))
    assert (tower.shape.width, tower.shape.layers, tower.shape.heads) == (768, 1, 12)
    ids = torch.randint(1, 1000, (2, 77), generator=torch.Generator().manual_seed(0))
    condition = head(tower(ids), ids)
    assert condition.shape == (2, 768) and torch.isfinite(condition).all()


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "ViT-L-14-336px.pt"
    path.write_bytes(b"not the real file" * 100_000)
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not is_openai_vit_l14_336_file(path)
    assert len(OPENAI_VIT_L14_336_SHA256) == 64 and int(OPENAI_VIT_L14_336_SHA256, 16) > 0
