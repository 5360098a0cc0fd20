"""OpenAI CLIP's byte-level BPE tokenizer, written for this project from the published algorithm.

The official InterMask text path starts with ``clip.tokenize(prompt, truncate=True)``; its condition vector is
read at the EOT position, so every id and the padding must be identical to OpenAI's, or the model sees another
sentence. Behaviour that matters:

- text is cleaned as OpenAI does: ``ftfy.fix_text``, HTML entities unescaped twice, whitespace collapsed,
  lower-cased (ftfy's version changes the ids of mojibake / ligature / full-width prompts);
- the literal markers ``<|startoftext|>`` / ``<|endoftext|>`` inside a prompt become the special ids (OpenAI's
  behaviour, which the official code uses; open_clip splits them instead);
- rows are ``[SOT] + ids + [EOT]``, cut to 77 with the last id forced to EOT, padded with 0 (which is also the id
  of ``!``: find the end with ``argmax``, EOT being the largest id).

The merge list is OpenAI's ``bpe_simple_vocab_16e6.txt.gz`` (MIT), read from a path the caller gives.
"""

from __future__ import annotations

import gzip
import html
import itertools
import math
import re
from collections.abc import Sequence
from pathlib import Path

import ftfy
import regex
import torch

CONTEXT_LENGTH = 77
SOT_ID = 49406
EOT_ID = 49407
PAD_ID = 0
_SOT_TEXT = "<|startoftext|>"
_EOT_TEXT = "<|endoftext|>"
_END_OF_WORD = "</w>"
#: OpenAI keeps the first 49152 - 256 - 2 merges of the file (after its version line): 49408 ids in all.
_MERGES_USED = 49152 - 256 - 2

#: Pre-split into the special markers, English clitics, letter runs, single digits and runs of other
#: non-space symbols. IGNORECASE is OpenAI's flag; it matters even on lower-cased text (e.g. ``'ſ`` is a clitic).
_PIECES = regex.compile(
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+",
    regex.IGNORECASE,
)
_WHITESPACE = re.compile(r"\s+")


def _byte_alphabet() -> list[tuple[int, str]]:
    """``(byte, symbol)`` in vocabulary order: BPE runs on strings, so every byte gets a visible character.

    Bytes that are printable Latin-1 stand for themselves and come first (so id 0 is ``!``); the others are
    given ``chr(256 + n)`` in byte order and follow.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    printable_set = set(printable)
    others = [b for b in range(256) if b not in printable_set]
    return [(b, chr(b)) for b in printable] + [(b, chr(256 + n)) for n, b in enumerate(others)]


def clean_text(text: str) -> str:
    """The text OpenAI's tokenizer actually splits: mojibake fixed, entities decoded, spaces collapsed, lower."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return _WHITESPACE.sub(" ", text).strip().lower()


class ClipTokenizer:
    """Prompt strings → OpenAI CLIP token ids (``[B, 77]`` int64), identical to ``clip.tokenize(truncate=True)``."""

    def __init__(self, vocab_path: str | Path) -> None:
        with gzip.open(vocab_path, "rt", encoding="utf-8") as handle:
            lines = handle.read().split("\n")
        merges = [tuple(line.split()) for line in lines[1 : _MERGES_USED + 1]]
        if len(merges) != _MERGES_USED or any(len(pair) != 2 for pair in merges):
            raise ValueError(f"{vocab_path} is not OpenAI's CLIP merge list (bpe_simple_vocab_16e6.txt.gz)")
        alphabet = _byte_alphabet()
        self._byte_symbol = {b: symbol for b, symbol in alphabet}
        symbols = [symbol for _, symbol in alphabet]
        vocab = symbols + [s + _END_OF_WORD for s in symbols] + [a + b for a, b in merges] + [_SOT_TEXT, _EOT_TEXT]
        self._ids = {token: i for i, token in enumerate(vocab)}
        self._merge_rank = {pair: rank for rank, pair in enumerate(merges)}
        self._special = {_SOT_TEXT: SOT_ID, _EOT_TEXT: EOT_ID}
        # Words recur across prompts; their ids never change, so each word is merged once per process.
        self._word_ids: dict[str, list[int]] = {}

    def encode(self, text: str) -> list[int]:
        """Ids of the cleaned text, without SOT/EOT and without truncation."""
        ids: list[int] = []
        for piece in _PIECES.findall(clean_text(text)):
            if piece in self._special:
                ids.append(self._special[piece])
                continue
            word = "".join(self._byte_symbol[b] for b in piece.encode("utf-8"))
            ids.extend(self._word_to_ids(word))
        return ids

    def __call__(self, texts: str | Sequence[str]) -> torch.Tensor:
        """``[B, 77]`` int64 rows ``SOT ids EOT 0…``; a row that is too long is cut and ends in EOT."""
        if isinstance(texts, str):
            texts = [texts]
        out = torch.full((len(texts), CONTEXT_LENGTH), PAD_ID, dtype=torch.int64)
        for row, text in enumerate(texts):
            ids = [SOT_ID, *self.encode(text), EOT_ID][:CONTEXT_LENGTH]
            ids[-1] = EOT_ID
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
        return out

    def _word_to_ids(self, word: str) -> list[int]:
        cached = self._word_ids.get(word)
        if cached is None:
            cached = [self._ids[part] for part in self._merge_word(word)]
            self._word_ids[word] = cached
        return cached

    def _merge_word(self, word: str) -> list[str]:
        """Byte-level BPE: repeatedly join every occurrence of the best-ranked adjacent pair."""
        parts = [*word[:-1], word[-1] + _END_OF_WORD]
        while len(parts) > 1:
            ranks = [self._merge_rank.get(pair, math.inf) for pair in itertools.pairwise(parts)]
            best = min(range(len(ranks)), key=ranks.__getitem__)
            if ranks[best] == math.inf:
                break
            first, second = parts[best], parts[best + 1]
            merged: list[str] = []
            i = 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == first and parts[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return parts
