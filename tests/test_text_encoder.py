"""Text encoders: the packaged MiniLM runs offline, caches, and embeds meaningfully; CLIP needs a path."""

from __future__ import annotations

import os

import pytest
import torch

from vendor_models.models.text.sentence_encoder import (
    ClipTextEncoder,
    MiniLMEncoder,
    TextEncoderError,
    load_text_encoder,
    minilm_path,
    non_english_warning,
)


@pytest.fixture(scope="module")
def minilm() -> MiniLMEncoder:
    torch.set_num_threads(1)
    return MiniLMEncoder()


def test_minilm_loads_from_the_installed_package_offline(minilm: MiniLMEncoder) -> None:
    assert minilm.path == minilm_path() and "site-packages" in str(minilm.path)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert (minilm.name, minilm.dim) == ("all-MiniLM-L6-v2", 384)


def test_vectors_are_unit_length_and_mean_something(minilm: MiniLMEncoder) -> None:
    v = minilm.encode(["two people hold hands and dance", "a couple dances holding hands",
                       "the stock market fell sharply today"])
    assert v.shape == (3, 384) and v.dtype == torch.float32
    torch.testing.assert_close(v.norm(dim=1), torch.ones(3))
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.3


def test_cache_returns_the_same_vector_without_recomputing(minilm: MiniLMEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
    first = minilm.encode(["one person spins the other"])
    monkeypatch.setattr(minilm, "_embed", lambda texts: pytest.fail(f"recomputed {texts}"))
    torch.testing.assert_close(minilm.encode(["one person spins the other"]), first)


def test_clip_encoder_needs_weights_the_user_has() -> None:
    with pytest.raises(TextEncoderError, match="needs the path of CLIP weights"):
        ClipTextEncoder(None)
    with pytest.raises(TextEncoderError, match="not found: /nonexistent/clip"):
        ClipTextEncoder("/nonexistent/clip")
    with pytest.raises(TextEncoderError, match="unknown text encoder 'bert'"):
        load_text_encoder("bert")


def test_missing_weights_folder_is_named(tmp_path) -> None:
    with pytest.raises(TextEncoderError, match=str(tmp_path)):
        MiniLMEncoder(tmp_path)


@pytest.mark.parametrize("text, flagged", [
    ("two people dance salsa and spin", False),
    ("a person waves at the other", False),
    ("deux personnes dansent la salsa", True),
    ("Zwei Menschen tanzen und drehen sich", True),
    ("两个人在跳舞", True),
    ("Двое танцуют", True),
])
def test_non_english_prompts_get_a_warning(text: str, flagged: bool) -> None:
    assert (non_english_warning(text) is not None) == flagged
