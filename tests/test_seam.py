"""The numpy-only seam both halves share: skeleton facts, the clip file, and the worker protocol.

Everything else (features, retargeting, the worker) builds on these three modules, so a silent change
here would break both halves at once; these tests pin their behaviour.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pytest

from vendor_models.motion import protocol, skeleton
from vendor_models.motion.clip_file import Clip, ClipError, stack_people

# --- skeleton -------------------------------------------------------------------------------------


def test_parents_form_a_tree_rooted_at_pelvis() -> None:
    parents = skeleton.PARENTS
    assert len(parents) == len(skeleton.JOINT_NAMES) == skeleton.NUM_JOINTS == 22
    assert parents[0] == -1 and all(p >= 0 for p in parents[1:])
    # parents precede children, so walking up from any joint reaches the root without cycles
    assert all(parents[j] < j for j in range(1, 22))
    for j in range(22):
        seen, k = set(), j
        while k != -1:
            assert k not in seen
            seen.add(k)
            k = parents[k]
        assert 0 in seen


def test_kinematic_chains_follow_parents() -> None:
    for chain in skeleton.KINEMATIC_CHAIN:
        for parent, child in zip(chain[:-1], chain[1:]):
            assert skeleton.PARENTS[child] == parent, (parent, child)
    covered = {j for chain in skeleton.KINEMATIC_CHAIN for j in chain}
    assert covered == set(range(22))


def test_mirror_permutation_is_an_involution_swapping_left_and_right_names() -> None:
    perm = skeleton.MIRROR_PERMUTATION
    assert sorted(perm) == list(range(22))
    assert all(perm[perm[j]] == j for j in range(22))
    names = skeleton.JOINT_NAMES
    for j, name in enumerate(names):
        if name.startswith("left_"):
            assert names[perm[j]] == "right_" + name[5:]
        elif name.startswith("right_"):
            assert names[perm[j]] == "left_" + name[6:]
        else:
            assert perm[j] == j, name


def test_mirror_keeps_the_tree() -> None:
    """Mirroring a child must give the mirror of its parent's child (the skeleton is symmetric)."""
    perm, parents = skeleton.MIRROR_PERMUTATION, skeleton.PARENTS
    for j in range(1, 22):
        assert parents[perm[j]] == perm[parents[j]]


def test_rest_directions_are_unit_and_left_right_mirrored() -> None:
    rest = skeleton.REST_DIRECTIONS
    assert rest.shape == (22, 3)
    np.testing.assert_allclose(np.linalg.norm(rest[1:], axis=1), 1.0)
    mirrored = rest[list(skeleton.MIRROR_PERMUTATION)] * np.array([-1, 1, 1])
    np.testing.assert_array_equal(mirrored, rest)


def test_contact_and_face_joints_are_named_correctly() -> None:
    names = [skeleton.JOINT_NAMES[j] for j in skeleton.CONTACT_JOINTS]
    assert names == ["left_ankle", "left_foot", "right_ankle", "right_foot"]
    face = [skeleton.JOINT_NAMES[j] for j in skeleton.FACE_JOINTS]
    assert face == ["right_hip", "left_hip", "right_shoulder", "left_shoulder"]


def test_y_up_to_z_up_axes() -> None:
    up_model, forward_model, right_model = np.eye(3)[1], np.eye(3)[2], np.eye(3)[0]
    np.testing.assert_array_equal(skeleton.model_to_blender(up_model), [0, 0, 1])  # +Y → +Z
    np.testing.assert_array_equal(skeleton.model_to_blender(forward_model), [0, -1, 0])  # +Z → −Y
    np.testing.assert_array_equal(skeleton.model_to_blender(right_model), [1, 0, 0])
    np.testing.assert_array_equal(skeleton.blender_to_model(np.array([0.0, 0.0, 1.0])), up_model)
    np.testing.assert_array_equal(skeleton.blender_to_model(np.array([0.0, -1.0, 0.0])), forward_model)


def test_y_up_z_up_round_trip_keeps_shape_dtype_and_handedness() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(7, 2, 22, 3)).astype(np.float32)
    there = skeleton.model_to_blender(points)
    assert there.shape == points.shape and there.dtype == np.float32
    np.testing.assert_allclose(skeleton.blender_to_model(there), points, atol=1e-6)
    np.testing.assert_allclose(skeleton.model_to_blender(skeleton.blender_to_model(points)), points, atol=1e-6)
    matrix = skeleton.model_to_blender_matrix()
    assert np.isclose(np.linalg.det(matrix), 1.0)  # a rotation, not a reflection
    np.testing.assert_allclose(points @ matrix.T, there, atol=1e-6)
    matrix[0, 0] = 5.0  # the returned matrix is a copy: changing it must not change the conversion
    np.testing.assert_allclose(skeleton.model_to_blender(points), there)


def test_bone_lengths_of_rest_directions_are_one() -> None:
    positions = np.zeros((22, 3))
    for j in range(1, 22):
        positions[j] = positions[skeleton.PARENTS[j]] + skeleton.REST_DIRECTIONS[j]
    np.testing.assert_allclose(skeleton.bone_lengths(positions), np.ones(21))


# --- clip file ------------------------------------------------------------------------------------


def _random_clip(frames: int = 5, people: int = 2, seed: int = 0) -> Clip:
    rng = np.random.default_rng(seed)
    quats = rng.normal(size=(frames, people, 22, 4))
    quats /= np.linalg.norm(quats, axis=-1, keepdims=True)
    return Clip(
        rng.normal(size=(frames, people, 22, 3)),
        quats,
        rng.random((frames, people, 4)) > 0.5,
        meta={"prompt": "two people dance salsa", "seed": 3, "model": "test", "prompts": ["a", "b"]},
    )


@pytest.mark.parametrize("people", [1, 2])
def test_clip_save_load_round_trip(tmp_path: Path, people: int) -> None:
    clip = _random_clip(people=people)
    path = clip.save(tmp_path / "sub" / "clip.npz")
    loaded = Clip.load(path)
    np.testing.assert_array_equal(loaded.positions, clip.positions)
    np.testing.assert_array_equal(loaded.rotations, clip.rotations)
    np.testing.assert_array_equal(loaded.contacts, clip.contacts)
    assert loaded.positions.dtype == np.float32 and loaded.contacts.dtype == bool
    assert loaded.fps == 30 and loaded.meta == clip.meta
    assert (loaded.num_frames, loaded.num_people, loaded.seconds) == (5, people, 5 / 30)


def test_clip_person_and_stack_people() -> None:
    clip = _random_clip()
    a, b = clip.person(0), clip.person(1)
    assert a.num_people == 1 and a.meta == clip.meta
    joined = stack_people([a, b])
    np.testing.assert_array_equal(joined.positions, clip.positions)
    with pytest.raises(ClipError, match="different frame counts"):
        stack_people([a, _random_clip(frames=6, people=1)])
    with pytest.raises(ClipError, match="no clips"):
        stack_people([])


def test_missing_clip_file(tmp_path: Path) -> None:
    with pytest.raises(ClipError, match="not found") as info:
        Clip.load(tmp_path / "nope.npz")
    assert "nope.npz" in str(info.value)


def test_corrupt_clip_file(tmp_path: Path) -> None:
    good = _random_clip().save(tmp_path / "good.npz").read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file at all")
    for path in (truncated, garbage):
        with pytest.raises(ClipError, match="could not be read") as info:
            Clip.load(path)
        assert path.name in str(info.value)


def test_clip_file_missing_a_field(tmp_path: Path) -> None:
    path = tmp_path / "partial.npz"
    np.savez(path, positions=np.zeros((2, 1, 22, 3), np.float32))
    with pytest.raises(ClipError, match=r"missing \['contacts', 'fps', 'rotations'\]") as info:
        Clip.load(path)
    assert "partial.npz" in str(info.value)


def test_clip_file_with_bad_shapes_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(
        path,
        positions=np.zeros((4, 2, 22, 3), np.float32),
        rotations=np.zeros((4, 2, 21, 4), np.float32),
        contacts=np.zeros((4, 2, 4), bool),
        fps=np.float32(30),
        meta=np.array(json.dumps({})),
    )
    with pytest.raises(ClipError, match="rotations must have shape") as info:
        Clip.load(path)
    assert "bad.npz" in str(info.value)


@pytest.mark.parametrize(
    ("positions", "rotations", "contacts", "message"),
    [
        ((4, 2, 22), (4, 2, 22, 4), (4, 2, 4), "positions must be"),
        ((4, 2, 24, 3), (4, 2, 22, 4), (4, 2, 4), "positions must have shape"),
        ((4, 2, 22, 3), (4, 2, 22, 3), (4, 2, 4), "rotations must have shape"),
        ((4, 2, 22, 3), (4, 2, 22, 4), (4, 2, 2), "contacts must have shape"),
        ((4, 3, 22, 3), (4, 3, 22, 4), (4, 3, 4), "1 or 2 people"),
        ((4, 0, 22, 3), (4, 0, 22, 4), (4, 0, 4), "1 or 2 people"),
        ((0, 2, 22, 3), (0, 2, 22, 4), (0, 2, 4), "at least one frame"),
    ],
)
def test_clip_shape_errors(positions: tuple, rotations: tuple, contacts: tuple, message: str) -> None:
    with pytest.raises(ClipError, match=message):
        Clip(np.zeros(positions), np.zeros(rotations), np.zeros(contacts, bool))


@pytest.mark.parametrize("field_name", ["positions", "rotations"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_clip_rejects_non_finite_values(field_name: str, bad: float) -> None:
    clip = _random_clip()
    arrays = {"positions": clip.positions.copy(), "rotations": clip.rotations.copy()}
    arrays[field_name][2, 1, 5, 0] = bad
    with pytest.raises(ClipError, match="NaN or infinity"):
        Clip(arrays["positions"], arrays["rotations"], clip.contacts)


@pytest.mark.parametrize("fps", [0.0, -30.0, float("nan")])
def test_clip_rejects_bad_fps(fps: float) -> None:
    clip = _random_clip()
    with pytest.raises(ClipError, match="fps"):
        Clip(clip.positions, clip.rotations, clip.contacts, fps=fps)


# --- protocol -------------------------------------------------------------------------------------

EXAMPLES: list[protocol.Message] = [
    protocol.Generate(id="j1", prompt="two people hug", prompts=["hugs", "hugs back"], seconds=4.5,
                      sampler=protocol.SamplerSettings(7, 3, 2.5, 12), out_dir="/tmp/out"),
    protocol.React(id="j2", prompt="the other one dodges", partner="/tmp/a.npz",
                   sampler=protocol.SamplerSettings(1, 2, 1.5, 8), out_dir="/tmp/o"),
    protocol.Generate(id="j3", prompt="model defaults", sampler=protocol.SamplerSettings(seed=4)),
    protocol.Generate(id="j4", prompt="salsa", seconds=30.0,
                      segments=[protocol.Segment("salsa", 12.0), protocol.Segment("a spin", 18.0)]),
    protocol.Edit(id="j5", clip="/tmp/a.npz", first=30, last=89, person="b", prompt="spins",
                  sampler=protocol.SamplerSettings(seed=2), out_dir="/tmp/o"),
    protocol.Extend(id="j6", clip="/tmp/a.npz", seconds=5.0, out_dir="/tmp/o"),
    protocol.Cancel(id="j1"),
    protocol.Unload(id="u"),
    protocol.Shutdown(id="s"),
    protocol.Ready(id=protocol.WORKER_ID, model="intermask-small", device="cpu", loaded=True,
                   versions={"torch": "2.13"}),
    protocol.Progress(id="j1", step=3, total=20, stage="decode"),
    protocol.Result(id="j1", clips=["/tmp/a.npz", "/tmp/b.npz"], timings={"total": 1.25}, warnings=["short"]),
    protocol.Error(id="j1", code=protocol.ErrorCode.CANCELLED, message="cancelled by user"),
]


def test_every_message_type_has_an_example() -> None:
    assert {m.TYPE for m in EXAMPLES} == set(protocol.MESSAGE_TYPES)
    assert protocol.REQUEST_TYPES <= set(protocol.MESSAGE_TYPES)


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.TYPE)
def test_message_round_trip(message: protocol.Message) -> None:
    line = message.to_json()
    assert "\n" not in line
    assert json.loads(line)["type"] == message.TYPE
    parsed = protocol.parse(line)
    assert type(parsed) is type(message) and parsed == message
    assert asdict(parsed) == asdict(message)


@pytest.mark.parametrize("cls", list(protocol.MESSAGE_TYPES.values()), ids=lambda c: c.TYPE)
def test_defaults_round_trip_from_id_only(cls: type[protocol.Message]) -> None:
    parsed = protocol.parse(json.dumps({"type": cls.TYPE, "id": "x"}))
    assert parsed == cls(id="x")


def test_integer_accepted_for_float_field_and_converted() -> None:
    parsed = protocol.parse('{"type":"generate","id":"a","seconds":5}')
    assert isinstance(parsed, protocol.Generate)
    assert parsed.seconds == 5.0 and isinstance(parsed.seconds, float)


@pytest.mark.parametrize(
    ("line", "job_id", "fragment"),
    [
        ("not json at all", "", "not JSON"),
        ('{"type": "generate", "id": "a"', "", "not JSON"),
        ("[1, 2]", "", "JSON object"),
        ('{"type": "generate"}', "", "non-empty string 'id'"),
        ('{"type": "generate", "id": ""}', "", "non-empty string 'id'"),
        ('{"type": "generate", "id": 5}', "", "non-empty string 'id'"),
        ('{"type": "dance", "id": "j9"}', "j9", "unknown message type 'dance'"),
        ('{"id": "j9"}', "j9", "unknown message type None"),
        ('{"type": "generate", "id": "j3", "colour": "red"}', "j3", "unknown fields ['colour']"),
        ('{"type": "generate", "id": "j4", "seconds": "five"}', "j4", "'seconds' must be float"),
        ('{"type": "generate", "id": "j5", "sampler": {"seed": 1.5}}', "j5", "'seed' has the wrong type"),
        ('{"type": "generate", "id": "j6", "sampler": {"seed": true}}', "j6", "'seed' has the wrong type"),
        ('{"type": "generate", "id": "j6", "sampler": {"steps": "ten"}}', "j6", "'steps' has the wrong type"),
        ('{"type": "generate", "id": "j6", "sampler": {"tempo": 3}}', "j6", "'sampler' must be an object"),
        ('{"type": "generate", "id": "j6", "sampler": 3}', "j6", "'sampler' must be an object"),
        ('{"type": "generate", "id": "j7", "prompts": "ab"}', "j7", "'prompts' must be list"),
        ('{"type": "result", "id": "j8", "timings": []}', "j8", "'timings' must be dict"),
        ('{"type": "ready", "id": "worker", "loaded": "yes"}', "worker", "'loaded' must be bool"),
    ],
)
def test_malformed_lines_raise_protocol_error(line: str, job_id: str, fragment: str) -> None:
    with pytest.raises(protocol.ProtocolError) as info:
        protocol.parse(line)
    assert info.value.code == protocol.ErrorCode.BAD_REQUEST
    assert info.value.job_id == job_id
    assert fragment in str(info.value)


def test_error_codes_are_distinct_strings() -> None:
    codes = [v for k, v in vars(protocol.ErrorCode).items() if k.isupper()]
    assert len(codes) == len(set(codes)) and all(isinstance(c, str) and c for c in codes)


def test_message_fields_are_json_types() -> None:
    """Every field default must survive JSON unchanged, or the round trip would silently alter it (as
    ``to_json`` sends them: nested dataclasses such as ``SamplerSettings`` become objects)."""
    for cls in protocol.MESSAGE_TYPES.values():
        for f in fields(cls):
            value = asdict(cls(id="x"))[f.name]  # what to_json sends: nested settings as an object
            assert json.loads(json.dumps(value)) == value, (cls.TYPE, f.name)
