"""Words for the captioner's facts: several templates per fact, names, and sentence assembly (numpy only).

Kept apart from :mod:`captioner` so the measuring rules and the wording can each be read on their own.
Templates use ``{A}`` (the fact's person), ``{B}`` (the other person), ``{A's}``/``{B's}`` (possessives),
``{P}`` (both people, plural verb), ``{dir}`` (left/right) and ``{clock}`` (clockwise/counterclockwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fact:
    """One measured statement: ``kind`` names the template set, ``slot`` the person it is about."""

    kind: str
    slot: int | None = None
    arg: str | None = None


TEMPLATES: dict[str, tuple[str, ...]] = {
    "spin": ("{A} spins {clock}", "{A} does a spin to the {dir}", "{A} spins around to the {dir}"),
    "spin2": ("{A} spins twice {clock}", "{A} does a double spin to the {dir}", "{A} spins around twice to the {dir}"),
    "full_turn": ("{A} turns all the way around to the {dir}", "{A} makes a slow full turn {clock}"),
    "half_turn": ("{A} turns around to the {dir}", "{A} makes a half turn {clock}"),
    "turn": ("{A} turns to the {dir}", "{A} turns a quarter {clock}", "{A} rotates to the {dir}"),
    "both_hands": ("{P} hold both hands", "{A} holds both of {B's} hands", "{P} dance holding both hands"),
    "hands": ("{P} hold hands", "{A} holds {B's} hand", "{P} stay hand in hand", "{P} keep their hands joined"),
    "no_hands": ("{P} dance without holding hands", "{P} keep their hands apart", "{A} does not touch {B's} hands"),
    "let_go": ("{P} let go of each other's hands", "{A} lets go of {B's} hand", "{P} release their hands"),
    "take_hands": ("{P} join hands", "{A} takes {B's} hand", "{P} take each other's hands"),
    "hands_sometimes": ("{P} join hands now and then", "{P} take and release hands", "{A} holds {B's} hand at times"),
    "face_to_face": ("{P} face each other", "{P} stand face to face", "{A} faces {B}"),
    "back_to_back": ("{P} stand back to back", "{P} face away from each other"),
    "side_by_side": ("{P} dance side by side", "{A} stands beside {B}, both facing the same way",
                     "{P} are side by side"),
    "behind": ("{A} stands behind {B}", "{A} faces {B's} back", "{B} is in front of {A}, facing away"),
    "relation_change": ("{P} go from {from} to {to}", "{P} change from {from} to {to}"),
    "approach": ("{P} move closer together", "{P} come toward each other", "the distance between them shrinks"),
    "approach_one": ("{A} walks toward {B}", "{A} steps in toward {B}", "{A} closes the distance to {B}"),
    "separate": ("{P} move apart", "{P} step away from each other", "the distance between them grows"),
    "separate_one": ("{A} moves away from {B}", "{A} steps back from {B}", "{A} puts distance between {A2} and {B}"),
    "close": ("{P} stay close together", "{P} dance close to each other", "{P} keep close"),
    "arm_length": ("{P} stay about an arm's length apart", "{P} keep an arm's length between them"),
    "far": ("{P} stay well apart", "{P} keep far from each other"),
    "in_place": ("{P} dance in place", "{P} stay on the spot", "{P} do not travel"),
    "travel_forward": ("{P} travel forward from {A's} point of view", "{A} moves forward and {B} goes along",
                       "{P} travel the way {A} faces"),
    "travel_backward": ("{P} travel backward from {A's} point of view", "{A} moves backward and {B} goes along",
                        "{P} travel the way {A's} back faces"),
    "travel_side": ("{P} travel sideways to {A's} {dir}", "{P} drift to {A's} {dir}",
                    "{A} moves sideways to the {dir} and {B} goes along"),
    "still": ("{P} barely step", "{P} hardly take any steps", "{P} stand with almost no steps"),
    "slow": ("{P} dance at a slow tempo", "{P} take slow steps", "the steps are slow"),
    "moderate": ("{P} dance at a moderate tempo", "{P} take steady steps", "the steps are at a medium pace"),
    "fast": ("{P} dance at a fast tempo", "{P} take quick steps", "the steps are fast"),
}

ROLE_NAMES = (("the lead", "the follow"), ("the leader", "the follower"))
NEUTRAL_NAMES = (("one person", "the first person", "the other"),
                 ("one dancer", "the first dancer", "the other dancer"),
                 ("one partner", "the first partner", "the other partner"))
ROLE_PAIRS = ("{0} and {1}", "the couple", "the two dancers", "the partners")
NEUTRAL_PAIRS = ("the two people", "the couple", "the two dancers", "both")
PREFIXES = ("", "", "two people dance salsa: ", "a salsa couple: ", "in a salsa dance, ")
_RELATION_WORDS = {"face to face": "facing each other", "back to back": "back to back", "side by side": "side by side",
                   "behind": "one behind the other", "angled": "standing at an angle"}


class _Namer:
    """Hands out names for slot 0/1 in one caption, so the neutral style says 'one person' before 'the other'."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.roles = bool(rng.random() < 0.5)
        self.role_names = ROLE_NAMES[int(rng.integers(len(ROLE_NAMES)))]
        self.neutral = NEUTRAL_NAMES[int(rng.integers(len(NEUTRAL_NAMES)))]
        self.pairs = ROLE_PAIRS if self.roles else NEUTRAL_PAIRS
        self.order: list[int] = []

    def name(self, slot: int) -> str:
        if self.roles:
            return self.role_names[slot]
        if slot not in self.order:
            self.order.append(slot)
            return self.neutral[0] if len(self.order) == 1 else self.neutral[2]
        return self.neutral[1] if self.order[0] == slot else self.neutral[2]

    def pair(self, rng: np.random.Generator) -> str:
        choice = self.pairs[int(rng.integers(len(self.pairs)))]
        if "{0}" in choice:
            return choice.format(self.name(0), self.name(1))
        return choice


def _possessive(name: str) -> str:
    return name + "'s"


def _clause(fact: Fact, namer: _Namer, rng: np.random.Generator) -> str:
    """Fill one template; names are resolved in reading order so 'one person' comes before 'the other'."""
    template = TEMPLATES[fact.kind][int(rng.integers(len(TEMPLATES[fact.kind])))]
    a = 0 if fact.slot is None else fact.slot
    out, i = [], 0
    while i < len(template):
        if template[i] != "{":
            out.append(template[i])
            i += 1
            continue
        j = template.index("}", i)
        key = template[i + 1:j]
        i = j + 1
        if key in ("A", "A's", "B", "B's"):
            name = namer.name(a if key[0] == "A" else 1 - a)
            out.append(_possessive(name) if key.endswith("'s") else name)
        elif key == "A2":
            out.append("themselves")
        elif key == "P":
            out.append(namer.pair(rng))
        elif key == "dir":
            out.append(str(fact.arg))
        elif key == "clock":
            out.append("counterclockwise" if fact.arg == "left" else "clockwise")
        elif key in ("from", "to"):
            first, last = str(fact.arg).split("|")
            out.append(_RELATION_WORDS[first if key == "from" else last])
    return "".join(out)


def _sentence(facts: list[Fact], rng: np.random.Generator) -> str:
    order = list(facts)
    if rng.random() < 0.5:
        rng.shuffle(order)  # type: ignore[arg-type]
    namer = _Namer(rng)
    clauses = [_clause(f, namer, rng) for f in order]
    joiner = ("; ", ", ", ". ")[int(rng.integers(3))]
    if joiner == ", " and len(clauses) > 1:
        text = ", ".join(clauses[:-1]) + " and " + clauses[-1]
    elif joiner == ". ":
        text = ". ".join([clauses[0]] + [c[:1].upper() + c[1:] for c in clauses[1:]])
    else:
        text = joiner.join(clauses)
    text = PREFIXES[int(rng.integers(len(PREFIXES)))] + text
    return text[:1].upper() + text[1:] + "."


def compose(facts: list[Fact], rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct sentences stating the same facts in different words and orders.

    With very few facts the phrasings can run out; after 50·n tries the list is filled by repeating the ones
    found, so callers always get ``n`` strings.
    """
    found: list[str] = []
    for _ in range(50 * n):
        text = _sentence(facts, rng)
        if text not in found:
            found.append(text)
        if len(found) == n:
            return found
    return [found[i % len(found)] for i in range(n)]
