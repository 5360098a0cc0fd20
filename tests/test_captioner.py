"""The captioner's rules, each checked on a constructed two-person motion with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from vendor_models.data import captioner
from vendor_models.data.captioner import CaptionError, describe, measure
from vendor_models.data.captioner_phrases import TEMPLATES
from vendor_models.motion.skeleton import PARENTS, REST_DIRECTIONS

FPS = 30.0
# Rough adult bone lengths (m) per joint, to its parent.
_LENGTHS = np.array([0, .10, .10, .12, .38, .38, .14, .40, .40, .06, .14, .14, .20, .08, .08, .12, .13, .13,
                     .27, .27, .25, .25])


def tpose() -> np.ndarray:
    """A T-pose [22, 3] facing +Z with the pelvis 0.95 m above the ground."""
    out = np.zeros((22, 3))
    out[0] = (0.0, 0.95, 0.0)
    for j in range(1, 22):
        out[j] = out[PARENTS[j]] + REST_DIRECTIONS[j] * _LENGTHS[j]
    return out


def person(yaw_deg: np.ndarray, root_xz: np.ndarray) -> np.ndarray:
    """A T-pose turned by ``yaw_deg`` [T] about +Y (right-hand rule) and moved to ``root_xz`` [T, 2]."""
    rest = tpose() - tpose()[0]
    yaw = np.radians(yaw_deg)
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.zeros((len(yaw), 3, 3))
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1], rot[:, 2, 0], rot[:, 2, 2] = c, s, 1, -s, c
    out = np.einsum("tij,kj->tki", rot, rest)
    out[..., 0] += root_xz[:, None, 0]
    out[..., 1] += 0.95
    out[..., 2] += root_xz[:, None, 1]
    return out


def pair(yaw0, root0, yaw1, root1) -> np.ndarray:
    return np.stack([person(np.asarray(yaw0, float), np.asarray(root0, float)),
                     person(np.asarray(yaw1, float), np.asarray(root1, float))], axis=1)


def still(t: int, x: float, z: float) -> np.ndarray:
    return np.tile([x, z], (t, 1))


def face_to_face(t: int = 90, gap: float = 1.0) -> np.ndarray:
    """Slot 0 at z=-gap/2 facing +Z, slot 1 at z=+gap/2 facing -Z, standing still."""
    return pair(np.zeros(t), still(t, 0, -gap / 2), np.full(t, 180.0), still(t, 0, gap / 2))


def no_contacts(t: int) -> np.ndarray:
    return np.zeros((t, 2, 4), bool)


def texts(pos: np.ndarray, contacts: np.ndarray | None = None, n: int = 6, seed: int = 0) -> list[str]:
    c = no_contacts(len(pos)) if contacts is None else contacts
    return describe(pos, c, FPS, np.random.default_rng(seed), n=n)


def kinds(pos: np.ndarray, contacts: np.ndarray | None = None) -> dict[str, captioner.Fact]:
    c = no_contacts(len(pos)) if contacts is None else contacts
    return {f.kind: f for f in captioner.facts(measure(pos, c, FPS))}


def test_facing_of_rest_pose_is_plus_z_and_yaw_is_counterclockwise_from_above():
    assert np.allclose(captioner.facing(tpose()), [0, 0, 1])
    # Turning by +90° about +Y carries +Z onto +X: from above (+Y looking down, X right, Z down the screen)
    # the facing goes from 6 o'clock to 3 o'clock, i.e. counterclockwise, and the yaw grows.
    yaw = captioner.yaw_degrees(person(np.r_[np.zeros(5), np.linspace(0, 90, 10), np.full(5, 90.0)], still(20, 0, 0)))
    assert yaw[-1] - yaw[0] == pytest.approx(90, abs=1)
    assert np.allclose(captioner.facing(person(np.array([90.0]), still(1, 0, 0)))[0], [1, 0, 0], atol=1e-6)


@pytest.mark.parametrize("sign,clock,side", [(1, "counterclockwise", "left"), (-1, "clockwise", "right")])
def test_full_rotation_in_one_second_is_a_spin_in_the_right_direction(sign, clock, side):
    t = 60
    yaw1 = np.concatenate([np.full(15, 180.0), 180 + sign * np.linspace(0, 360, 30), np.full(15, 180 + sign * 360.0)])
    pos = pair(np.zeros(t), still(t, 0, -0.5), yaw1, still(t, 0, 0.5))
    m = measure(pos, no_contacts(t), FPS)
    assert m.spin_count == (0, 1)
    assert np.sign(m.spin_deg[1]) == sign and abs(m.spin_deg[1]) > 300
    fact = kinds(pos)["spin"]
    assert (fact.slot, fact.arg) == (1, side)
    out = texts(pos, n=12)
    assert any(f"the follow spins {clock}" in s.lower() or f"the follower spins {clock}" in s.lower() for s in out)
    opposite = "clockwise" if clock == "counterclockwise" else "counterclockwise"
    assert not any(f"spins {opposite}" in s for s in out)


def test_double_spin_and_slow_rotation_is_not_a_spin():
    t = 90
    double = pair(np.linspace(0, -720, t), still(t, 0, -0.5), np.full(t, 180.0), still(t, 0, 0.5))
    assert measure(double, no_contacts(t), FPS).spin_count == (2, 0)
    assert kinds(double)["spin2"].arg == "right"
    slow = pair(np.linspace(0, 360, 150), still(150, 0, -0.5), np.full(150, 180.0), still(150, 0, 0.5))
    k = kinds(slow)  # 360° over 5 s: 108° per 1.5 s, a full turn but no spin
    assert "spin" not in k and k["full_turn"].arg == "left" and k["full_turn"].slot == 0


@pytest.mark.parametrize("degrees,kind", [(100, "turn"), (180, "half_turn"), (40, None)])
def test_turn_sizes(degrees, kind):
    t = 90
    pos = pair(np.linspace(0, -degrees, t), still(t, 0, -0.5), np.full(t, 180.0), still(t, 0, 0.5))
    k = kinds(pos)
    turn_kinds = {"turn", "half_turn", "full_turn", "spin", "spin2"} & set(k)
    assert turn_kinds == ({kind} if kind else set())
    if kind:
        assert k[kind].arg == "right"


def test_walking_toward_each_other_is_approaching_and_one_walker_is_named():
    t = 60
    both = pair(np.zeros(t), np.c_[np.zeros(t), np.linspace(-1.5, -0.4, t)],
                np.full(t, 180.0), np.c_[np.zeros(t), np.linspace(1.5, 0.4, t)])
    assert "approach" in kinds(both)
    assert all(("closer" in s or "toward" in s or "shrinks" in s or "closes" in s) for s in texts(both))
    one = pair(np.zeros(t), np.c_[np.zeros(t), np.linspace(-2.0, -0.2, t)], np.full(t, 180.0), still(t, 0, 0.5))
    fact = kinds(one)["approach_one"]
    assert fact.slot == 0
    apart = pair(np.zeros(t), np.c_[np.zeros(t), np.linspace(-0.3, -1.5, t)],
                 np.full(t, 180.0), np.c_[np.zeros(t), np.linspace(0.3, 1.5, t)])
    assert "separate" in kinds(apart)


def test_distance_levels_when_nobody_moves():
    assert "close" in kinds(face_to_face(gap=0.4))
    assert "arm_length" in kinds(face_to_face(gap=1.0))
    assert "far" in kinds(face_to_face(gap=2.5))


def test_wrists_five_centimetres_apart_are_joined_hands():
    pos = face_to_face()
    pos[:, 0, 20] = (0.3, 1.0, -0.025)  # slot 0's left wrist
    pos[:, 1, 21] = (0.3, 1.0, 0.025)   # slot 1's right wrist
    m = measure(pos, no_contacts(len(pos)), FPS)
    assert m.hands_fraction == 1.0 and m.both_hands_fraction == 0.0
    assert "hands" in kinds(pos)
    pos[:, 0, 21] = (-0.3, 1.0, -0.025)
    pos[:, 1, 20] = (-0.3, 1.0, 0.025)
    assert "both_hands" in kinds(pos)


def test_hands_apart_and_letting_go():
    assert "no_hands" in kinds(face_to_face())  # T-pose wrists of people 1 m apart are > 0.2 m apart
    pos = face_to_face()
    pos[:45, 0, 20] = (0.3, 1.0, -0.025)
    pos[:45, 1, 21] = (0.3, 1.0, 0.025)
    assert "let_go" in kinds(pos)
    assert "take_hands" in kinds(pos[::-1].copy())


def test_relations():
    t = 30
    assert "face_to_face" in kinds(face_to_face())
    assert "back_to_back" in kinds(pair(np.full(t, 180.0), still(t, 0, -0.5), np.zeros(t), still(t, 0, 0.5)))
    assert "side_by_side" in kinds(pair(np.zeros(t), still(t, -0.5, 0), np.zeros(t), still(t, 0.5, 0)))
    # Both face +Z, slot 1 stands ahead of slot 0: slot 0 is behind.
    fact = kinds(pair(np.zeros(t), still(t, 0, -0.5), np.zeros(t), still(t, 0, 0.5)))["behind"]
    assert fact.slot == 0


@pytest.mark.parametrize("direction,kind,arg", [((0, 1), "travel_forward", None), ((0, -1), "travel_backward", None),
                                                ((1, 0), "travel_side", "left"), ((-1, 0), "travel_side", "right")])
def test_travel_direction_relative_to_slot0(direction, kind, arg):
    t = 60
    path = np.linspace(0, 1.0, t)[:, None] * np.array(direction, float)
    pos = pair(np.zeros(t), path + [0, -0.5], np.full(t, 180.0), path + [0, 0.5])  # slot 0 faces +Z, left is +X
    fact = kinds(pos)[kind]
    assert fact.arg == arg and fact.slot in (0, None)
    assert "in_place" in kinds(face_to_face())


@pytest.mark.parametrize("period,kind", [(None, "still"), (30, "slow"), (16, "moderate"), (8, "fast")])
def test_tempo_from_contact_onsets(period, kind):
    t = 120
    contacts = no_contacts(t)
    if period:  # alternate feet: one foot lands every `period` frames
        for start in range(0, t, period):
            foot = (start // period) % 2
            contacts[start:start + period // 2, :, 2 * foot:2 * foot + 2] = True
    assert kind in kinds(face_to_face(t), contacts)


def test_phrasings_are_distinct_use_both_naming_styles_and_are_seed_deterministic():
    pos = face_to_face()
    out = texts(pos, n=10)
    assert len(set(out)) == 10
    joined = " ".join(out).lower()
    assert "the lead" in joined and ("one person" in joined or "one dancer" in joined or "one partner" in joined)
    assert out == texts(pos, n=10)
    assert out != texts(pos, n=10, seed=1)
    for s in out:  # the neutral style never says "the other" before "one ..."
        low = s.lower()
        if "the other" in low and "one " in low:
            assert low.index("one ") < low.index("the other")


def test_every_template_renders_without_placeholders():
    from vendor_models.data.captioner_phrases import Fact, compose
    for kind in TEMPLATES:
        arg = "face to face|side by side" if kind == "relation_change" else "left"
        for s in compose([Fact(kind, 1, arg)], np.random.default_rng(0), 6):
            assert "{" not in s and "}" not in s and s.endswith(".")


def test_bad_input_names_the_array():
    with pytest.raises(CaptionError, match="positions"):
        describe(np.zeros((10, 1, 22, 3)), np.zeros((10, 1, 4), bool), FPS, np.random.default_rng(0))
    with pytest.raises(CaptionError, match="contacts"):
        describe(face_to_face(10), np.zeros((9, 2, 4), bool), FPS, np.random.default_rng(0))
    bad = face_to_face(10)
    bad[3, 0, 5, 1] = np.nan
    with pytest.raises(CaptionError, match="NaN"):
        describe(bad, no_contacts(10), FPS, np.random.default_rng(0))


def _clip_file(tmp_path, pos: np.ndarray) -> str:
    from vendor_models.motion.clip_file import Clip
    rot = np.zeros(pos.shape[:3] + (4,), np.float32)
    rot[..., 0] = 1
    return str(Clip(pos, rot, no_contacts(len(pos))).save(tmp_path / "pair.npz"))


def test_caption_command_reads_a_clip_and_window(tmp_path, capsys):
    import json
    import subprocess
    import sys

    from vendor_models.cli import caption as caption_cli
    t = 90  # 3 s: slot 1 spins clockwise in the second half only
    yaw1 = np.r_[np.full(45, 180.0), 180 - np.linspace(0, 360, 30), np.full(15, -180.0)]
    path = _clip_file(tmp_path, pair(np.zeros(t), still(t, 0, -0.5), yaw1, still(t, 0, 0.5)))
    assert caption_cli.main([path, "--window", ":1.4", "--json", "-n", "4"]) == 0
    early = json.loads(capsys.readouterr().out)
    assert len(early["captions"]) == 4 and early["measures"]["spin_count"] == [0, 0]
    out = subprocess.run([sys.executable, "-m", "vendor_models", "caption", path, "--window", "1.5:3", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["measures"]["spin_count"] == [0, 1]
    assert caption_cli.main([path, "--window", "2:9"]) == 2
    assert "outside the clip" in capsys.readouterr().out
    assert caption_cli.main([str(tmp_path / "missing.npz")]) == 2
    assert "not found" in capsys.readouterr().out
