"""Prompt words under a left/right mirror image, for the data code that mirrors training pairs."""

from __future__ import annotations

import re

_MIRROR_WORDS = {
    "left": "right", "right": "left", "clockwise": "counterclockwise", "counterclockwise": "clockwise",
    "counter-clockwise": "clockwise", "anticlockwise": "clockwise", "anti-clockwise": "clockwise",
}
_WORD_RE = re.compile(
    r"\b(counter-clockwise|anti-clockwise|counterclockwise|anticlockwise|clockwise|left|right)(wards?|most)?\b",
    re.IGNORECASE,
)


def _same_case(template: str, word: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    return word[0].upper() + word[1:] if template[0].isupper() else word


def mirror_text(text: str) -> str:
    """Swap left⇄right and clockwise⇄counterclockwise (also anticlockwise) in a prompt, keeping case."""
    def swap(match: re.Match[str]) -> str:
        word, suffix = match.group(1), match.group(2) or ""
        return _same_case(word, _MIRROR_WORDS[word.lower()]) + suffix
    return _WORD_RE.sub(swap, text)
