"""`intermask preview`: the GIF really shows the people where the clip puts them, in their colours.

Pixel checks instead of eyeballing: person A's blue and person B's orange must appear (and only the
people present), on the correct side of each panel, and the GIF must play in real time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vendor_models.cli.preview_gif import PERSON_COLOURS, PreviewError, frame_durations, parse_frames, preview
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.skeleton import PARENTS, REST_DIRECTIONS

REPO = Path(__file__).resolve().parents[1]


def _t_pose(bone: float = 0.25) -> np.ndarray:
    pose = np.zeros((22, 3))
    for j in range(1, 22):
        pose[j] = pose[PARENTS[j]] + bone * REST_DIRECTIONS[j]
    return pose - np.array([0.0, pose[:, 1].min(), 0.0])


def _clip(offsets: list[tuple[float, float]], frames: int = 60) -> Clip:
    """People in T-pose standing at (x, z) offsets, bobbing up and down so frames differ."""
    bob = 0.05 * np.sin(np.linspace(0, 2 * np.pi, frames))[:, None, None]
    people = [_t_pose() + np.array([x, 0.0, z]) + bob * np.array([0.0, 1.0, 0.0]) for x, z in offsets]
    positions = np.stack(people, axis=1)
    rotations = np.zeros((*positions.shape[:3], 4))
    rotations[..., 0] = 1.0
    return Clip(positions, rotations, np.zeros((frames, len(offsets), 4), bool), meta={"prompt": "test pose"})


def _colour_mask(image: np.ndarray, colour: str) -> np.ndarray:
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return np.abs(image.astype(int) - rgb).sum(axis=-1) < 40


def _frames(path: Path) -> tuple[list[np.ndarray], list[int]]:
    images, durations = [], []
    with Image.open(path) as gif:
        for i in range(gif.n_frames):
            gif.seek(i)
            images.append(np.asarray(gif.convert("RGB")))
            durations.append(gif.info["duration"])
    return images, durations


def test_two_people_drawn_in_their_colours_and_places(tmp_path: Path) -> None:
    # A on the left (−x) and nearer the front camera (+z); B on the right and further back
    path = _clip([(-0.8, 0.6), (0.8, -0.6)]).save(tmp_path / "pair.npz")
    out = preview(path, tmp_path / "out" / "pair.gif")
    images, durations = _frames(out)
    assert len(images) == 30  # 60 frames at 30 fps drawn at 15 fps
    assert abs(sum(durations) - 2000) <= 10  # plays in real time (2 s)
    image = images[0]
    half = image.shape[1] // 2
    for panel in (image[:, :half], image[:, half:]):
        blue, orange = _colour_mask(panel, PERSON_COLOURS[0]), _colour_mask(panel, PERSON_COLOURS[1])
        assert blue.sum() > 200 and orange.sum() > 200
        assert np.argwhere(blue)[:, 1].mean() < np.argwhere(orange)[:, 1].mean()  # A left of B
    top = image[:, half:]
    rows_a = np.argwhere(_colour_mask(top, PERSON_COLOURS[0]))[:, 0].mean()
    rows_b = np.argwhere(_colour_mask(top, PERSON_COLOURS[1]))[:, 0].mean()
    assert rows_a > rows_b  # top view: the front camera is below, so A (nearer it) is drawn lower
    assert not np.array_equal(images[0], images[7])  # the figures move


def test_one_person_and_frame_range(tmp_path: Path) -> None:
    path = _clip([(0.0, 0.0)], frames=90).save(tmp_path / "single.npz")
    out = preview(path, tmp_path / "single.gif", gif_fps=30, frames="10:40")
    images, durations = _frames(out)
    assert len(images) == 30 and abs(sum(durations) - 1000) <= 10
    assert _colour_mask(images[0], PERSON_COLOURS[0]).sum() > 200
    assert _colour_mask(images[0], PERSON_COLOURS[1]).sum() < 20  # nobody orange in a one-person clip


def test_parse_frames_and_durations() -> None:
    assert parse_frames("10:40", 100) == range(10, 40)
    assert parse_frames(":", 5) == range(0, 5)
    assert parse_frames("-10:", 100) == range(90, 100)
    for bad in ("5", "a:b", "1:2:3", "50:10", "200:300"):
        with pytest.raises(PreviewError, match="--frames"):
            parse_frames(bad, 100)
    assert sum(frame_durations(45, 1000 / 15)) == 3000
    assert set(frame_durations(45, 1000 / 15)) == {60, 70}


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["missing.npz", "--out", "x.gif"], "clip file not found"),
        (["CLIP", "--out", "x.gif", "--frames", "70:80"], "selects no frames"),
        (["CLIP", "--out", "x.gif", "--fps", "0"], "--fps must be positive"),
        (["GARBAGE", "--out", "x.gif"], "could not be read as a clip file"),
    ],
)
def test_cli_errors_are_messages_not_tracebacks(tmp_path: Path, args: list[str], fragment: str) -> None:
    clip_path = _clip([(0.0, 0.0)]).save(tmp_path / "c.npz")
    garbage = tmp_path / "g.npz"
    garbage.write_bytes(b"nope")
    args = [str(clip_path) if a == "CLIP" else str(garbage) if a == "GARBAGE" else a for a in args]
    done = subprocess.run([sys.executable, "-m", "vendor_models", "preview", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert fragment in done.stderr and "Traceback" not in done.stderr
