"""The clip file: the unit of motion that crosses the seam between the model and Blender (numpy only).

A clip holds P people (2 for an interaction, 1 for a single person) over T frames in model space
(Y-up, metres). Fields:

- ``positions`` float32 [T, P, 22, 3] joint positions;
- ``rotations`` float32 [T, P, 22, 4] local joint quaternions (w, x, y, z) relative to the rest T-pose
  facing +Z (the root's is its global orientation);
- ``contacts`` bool [T, P, 4] foot contacts (left ankle, left toe, right ankle, right toe);
- ``fps`` (30 for everything the model makes);
- ``meta`` a JSON-serialisable dict: prompt(s), seed, model, source.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .skeleton import FPS, NUM_JOINTS


class ClipError(ValueError):
    """A clip file or array that is not what it claims to be; the message says what is wrong."""


@dataclass
class Clip:
    positions: np.ndarray
    rotations: np.ndarray
    contacts: np.ndarray
    fps: float = FPS
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=np.float32)
        self.rotations = np.asarray(self.rotations, dtype=np.float32)
        self.contacts = np.asarray(self.contacts, dtype=bool)
        self.validate()

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def num_people(self) -> int:
        return int(self.positions.shape[1])

    @property
    def seconds(self) -> float:
        return self.num_frames / float(self.fps)

    def validate(self) -> None:
        """Raise :class:`ClipError` naming the first field whose shape or values are wrong."""
        t_p = self.positions.shape[:2]
        expected = {
            "positions": (self.positions, (*t_p, NUM_JOINTS, 3)),
            "rotations": (self.rotations, (*t_p, NUM_JOINTS, 4)),
            "contacts": (self.contacts, (*t_p, 4)),
        }
        if self.positions.ndim != 4:
            raise ClipError(f"positions must be [T, P, 22, 3], got shape {self.positions.shape}")
        for name, (array, shape) in expected.items():
            if array.shape != shape:
                raise ClipError(f"{name} must have shape {shape}, got {array.shape}")
        if self.num_frames < 1 or self.num_people not in (1, 2):
            raise ClipError(f"a clip needs at least one frame and 1 or 2 people, got shape {self.positions.shape}")
        if not (np.isfinite(self.positions).all() and np.isfinite(self.rotations).all()):
            raise ClipError("positions or rotations contain NaN or infinity")
        if not float(self.fps) > 0:
            raise ClipError(f"fps must be positive, got {self.fps}")

    def person(self, index: int) -> "Clip":
        """A one-person clip of person ``index`` (same meta)."""
        sl = slice(index, index + 1)
        return Clip(self.positions[:, sl], self.rotations[:, sl], self.contacts[:, sl], self.fps, dict(self.meta))

    def save(self, path: str | Path) -> Path:
        """Write the clip as an uncompressed ``.npz``; returns the path written."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            np.savez(
                handle,
                positions=self.positions,
                rotations=self.rotations,
                contacts=self.contacts,
                fps=np.float32(self.fps),
                meta=np.array(json.dumps(self.meta)),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Clip":
        """Read a clip file, raising :class:`ClipError` with the file name on anything unreadable."""
        path = Path(path)
        if not path.is_file():
            raise ClipError(f"clip file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = {"positions", "rotations", "contacts", "fps"} - set(data.files)
                if missing:
                    raise ClipError(f"not a clip file, missing {sorted(missing)}")
                meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
                return cls(data["positions"], data["rotations"], data["contacts"], float(data["fps"]), meta)
        except ClipError as exc:
            raise ClipError(f"{path}: {exc}") from exc
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ClipError(f"{path} could not be read as a clip file ({exc})") from exc


def stack_people(clips: list[Clip], meta: dict[str, Any] | None = None) -> Clip:
    """Join one-person clips of equal length and fps into one clip (person order = list order)."""
    if not clips:
        raise ClipError("no clips to stack")
    lengths = {c.num_frames for c in clips}
    if len(lengths) != 1:
        raise ClipError(f"people have different frame counts: {sorted(lengths)}")
    if len({float(c.fps) for c in clips}) != 1:
        raise ClipError("people have different frame rates")
    return Clip(
        np.concatenate([c.positions for c in clips], axis=1),
        np.concatenate([c.rotations for c in clips], axis=1),
        np.concatenate([c.contacts for c in clips], axis=1),
        clips[0].fps,
        dict(meta if meta is not None else clips[0].meta),
    )
