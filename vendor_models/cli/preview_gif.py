"""Stick-figure GIF previews of a clip, so motion can be checked without opening Blender.

``intermask preview clip.npz --out preview.gif [--fps N] [--frames a:b]`` draws every person of the clip
(A blue, B orange) from the front (looking at −Z, the way a character facing +Z looks at the camera) and
from the top (front camera at the bottom of the panel), with the floor, a 0.5 m ground grid, each
person's facing arrow and root trail, feet marked while in contact, and a frame counter.

Speed: the figure and its line artists are built once and only their data change per frame (no 3D axes,
no re-layout), and the clip is subsampled to at most ``--fps`` frames per second (default 15, i.e. every
2nd frame of a 30 fps clip; the GIF still plays in real time). A 10 s pair renders in a few seconds.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import numpy as np

from ..motion.canonical import facing_angle
from ..motion.clip_file import Clip, ClipError
from ..motion.skeleton import CONTACT_JOINTS, KINEMATIC_CHAIN

PERSON_COLOURS = ("#1f5fbf", "#e8741c")  # A blue-ish, B orange-ish
PERSON_LABELS = ("A", "B")
DEFAULT_FPS = 15.0
GRID_STEP = 0.5  # metres
HEAD_JOINT = 15


class PreviewError(ValueError):
    """Bad preview options (frame range, fps); the message names the option."""


def parse_frames(spec: str, num_frames: int) -> range:
    """``"a:b"`` (Python slice rules, either end optional, negatives count from the end) → frame range."""
    parts = spec.split(":")
    if len(parts) != 2:
        raise PreviewError(f"--frames must look like a:b (e.g. 0:90), got {spec!r}")
    try:
        bounds = [int(p) if p.strip() else None for p in parts]
    except ValueError as exc:
        raise PreviewError(f"--frames must hold whole numbers, got {spec!r}") from exc
    frames = range(num_frames)[slice(*bounds)]
    if len(frames) == 0:
        raise PreviewError(f"--frames {spec} selects no frames of a {num_frames}-frame clip")
    return frames


def frame_step(clip_fps: float, gif_fps: float) -> int:
    """Every how many clip frames one GIF frame is drawn, so the GIF runs at most ``gif_fps``."""
    if not gif_fps > 0:
        raise PreviewError(f"--fps must be positive, got {gif_fps}")
    return max(1, int(round(clip_fps / gif_fps)))


def _limits(points: np.ndarray, pad: float = 0.3) -> tuple[float, float]:
    lo, hi = float(points.min()) - pad, float(points.max()) + pad
    return lo, hi


class _Views:
    """The figure with its two panels and the per-person artists, built once; frames only move data.

    The static parts (axes, grid, floor, legend, title) are rendered once and restored from a saved
    background for every frame; only the animated artists are drawn on top (Agg blitting), which is
    several times faster than redrawing the whole figure.
    """

    def __init__(self, clip: Clip, frames: range, title: str, dpi: int) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter

        self.clip = clip
        pos = clip.positions[frames.start:frames.stop]
        self.fig = Figure(figsize=(9.6, 5.4), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.fig.suptitle(title, fontsize=11)
        front = self.fig.add_axes((0.05, 0.1, 0.43, 0.76))
        top = self.fig.add_axes((0.55, 0.1, 0.43, 0.76))
        # front view: x right, y up. Top view: x right, and −z up so the front camera (+Z) is below;
        # its tick labels show the true z.
        x_lim, y_lim, z_lim = _limits(pos[..., 0]), _limits(pos[..., 1]), _limits(pos[..., 2])
        self._setup(front, "front (camera at +Z)", x_lim, (min(y_lim[0], -0.1), y_lim[1]), ground_line=True)
        self._setup(top, "top (front camera below)", x_lim, (-z_lim[1], -z_lim[0]), ground_line=False)
        front.set_xlabel("x (m)", fontsize=8)
        front.set_ylabel("y (m)", fontsize=8, labelpad=1)
        top.set_xlabel("x (m)", fontsize=8)
        top.set_ylabel("z (m)", fontsize=8, labelpad=1)
        top.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{-v + 0.0:g}"))
        self.axes = (front, top)
        self.lines: list[list[list]] = []  # [person][view][chain]
        self.markers: list[list] = []  # [person][view]: feet in contact
        self.heads: list[list] = []  # [person][view]
        self.trails: list = []  # [person]: root path so far (top view)
        self.arrows: list = []  # [person]: facing (top view)
        for p in range(clip.num_people):
            colour = PERSON_COLOURS[p % len(PERSON_COLOURS)]
            self.lines.append([[ax.plot([], [], "-", color=colour, lw=2.2, solid_capstyle="round", animated=True)[0]
                                for _ in KINEMATIC_CHAIN] for ax in self.axes])
            self.markers.append([ax.plot([], [], "s", color=colour, ms=6, mec="k", mew=0.6, animated=True)[0]
                                 for ax in self.axes])
            self.heads.append([ax.plot([], [], "o", color=colour, ms=9, mfc="white", mew=2, animated=True)[0]
                               for ax in self.axes])
            self.trails.append(top.plot([], [], ":", color=colour, lw=1, alpha=0.8, animated=True)[0])
            self.arrows.append(top.plot([], [], "-", color="k", lw=1.5, animated=True)[0])
            front.plot([], [], "-", color=colour, lw=2.2, label=f"person {PERSON_LABELS[p]}")
        front.legend(loc="upper left", fontsize=8, frameon=False)
        self.counter = self.fig.text(0.5, 0.012, "", ha="center", fontsize=9, family="monospace", animated=True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    @staticmethod
    def _setup(ax, label: str, h_lim: tuple[float, float], v_lim: tuple[float, float], ground_line: bool) -> None:
        """Square, equal-aspect panel with a fixed camera (limits cover the whole clip) and a 0.5 m grid."""
        from matplotlib.ticker import MultipleLocator

        # grow the shorter range (upwards in the front view, so the floor stays at the bottom)
        side = max(h_lim[1] - h_lim[0], v_lim[1] - v_lim[0])
        h_mid = (h_lim[0] + h_lim[1]) / 2
        v_low = v_lim[0] if ground_line else (v_lim[0] + v_lim[1] - side) / 2
        ax.set_xlim(h_mid - side / 2, h_mid + side / 2)
        ax.set_ylim(v_low, v_low + side)
        ax.set_aspect("equal", adjustable="box")
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
        step = GRID_STEP * max(1, int(np.ceil(side / (12 * GRID_STEP))))  # at most ~12 grid lines
        ax.xaxis.set_major_locator(MultipleLocator(step))
        ax.yaxis.set_major_locator(MultipleLocator(step))
        ax.grid(True, color="#cccccc", lw=0.6)
        if ground_line:
            ax.axhspan(-100.0, 0.0, color="#e6e2d8", zorder=0)
            ax.axhline(0.0, color="#8c8270", lw=1.2)

    def draw(self, frame: int, total: int) -> np.ndarray:
        """Render one clip frame; returns the RGB image (H, W, 3) uint8."""
        pos = self.clip.positions[frame]
        animated: list = [self.counter]
        for p in range(self.clip.num_people):
            joints = pos[p]
            views = ((joints[:, 0], joints[:, 1]), (joints[:, 0], -joints[:, 2]))
            contact = np.array(CONTACT_JOINTS)[self.clip.contacts[frame, p]]
            for v, (h, vert) in enumerate(views):
                for line, chain in zip(self.lines[p][v], KINEMATIC_CHAIN):
                    line.set_data(h[list(chain)], vert[list(chain)])
                self.markers[p][v].set_data(h[contact], vert[contact])
                self.heads[p][v].set_data(h[[HEAD_JOINT]], vert[[HEAD_JOINT]])
                animated += [*self.lines[p][v], self.markers[p][v], self.heads[p][v]]
            root = self.clip.positions[: frame + 1, p, 0]
            self.trails[p].set_data(root[:, 0], -root[:, 2])
            yaw = float(facing_angle(joints))
            tip = joints[0] + 0.5 * np.array([np.sin(yaw), 0.0, np.cos(yaw)])
            self.arrows[p].set_data([joints[0, 0], tip[0]], [-joints[0, 2], -tip[2]])
            animated += [self.trails[p], self.arrows[p]]
        seconds = frame / float(self.clip.fps)
        self.counter.set_text(f"frame {frame:4d} / {total - 1}   {seconds:6.2f} s   ({self.clip.fps:g} fps)")
        self.canvas.restore_region(self.background)
        for artist in animated:
            self.fig.draw_artist(artist)
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def title_of(clip: Clip) -> str:
    """The clip's prompt (or per-person prompts; for mocap its source files) wrapped to two lines."""
    meta = clip.meta
    files = [str(p.get("file", "")) for p in meta.get("people") or [] if isinstance(p, dict)]
    text = (meta.get("prompt") or " / ".join(meta.get("prompts") or [])
            or (f"{meta.get('source', 'mocap')}: {' + '.join(files)}" if files else meta.get("source"))
            or "(no prompt)")
    return "\n".join(textwrap.wrap(str(text), 100)[:2])


def render_frames(clip: Clip, frames: range | None = None, gif_fps: float = DEFAULT_FPS, dpi: int = 80) -> tuple[list[np.ndarray], float]:
    """RGB images of the selected frames, subsampled to at most ``gif_fps``; also the GIF frame duration (ms)."""
    frames = frames if frames is not None else range(clip.num_frames)
    step = frame_step(clip.fps, gif_fps)
    chosen = frames[::step]
    views = _Views(clip, frames, title_of(clip), dpi)
    images = [views.draw(f, clip.num_frames) for f in chosen]
    return images, 1000.0 * step / float(clip.fps)


def frame_durations(count: int, duration_ms: float) -> list[int]:
    """Per-frame GIF delays in whole centiseconds (GIF's unit) whose running sum tracks real time."""
    ends = np.round(np.arange(1, count + 1) * duration_ms / 10.0).astype(int)
    return [max(2, int(d)) * 10 for d in np.diff(ends, prepend=0)]


def write_gif(images: list[np.ndarray], duration_ms: float, out: Path) -> Path:
    """Save RGB frames as a looping GIF (one shared palette keeps the colours of A and B stable)."""
    from PIL import Image

    out.parent.mkdir(parents=True, exist_ok=True)
    first, *rest = [Image.fromarray(img) for img in images]
    palette = first.quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    frames = [first.quantize(palette=palette)] + [im.quantize(palette=palette) for im in rest]
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=frame_durations(len(frames), duration_ms), optimize=False)
    return out


def preview(clip_path: str | Path, out: str | Path, gif_fps: float = DEFAULT_FPS, frames: str | None = None) -> Path:
    """Load a clip file and write its preview GIF; raises :class:`ClipError` / :class:`PreviewError`."""
    clip = Clip.load(clip_path)
    selected = parse_frames(frames, clip.num_frames) if frames else range(clip.num_frames)
    images, duration = render_frames(clip, selected, gif_fps)
    return write_gif(images, duration, Path(out))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="intermask preview", description="Draw a clip as a stick-figure GIF.")
    parser.add_argument("clip", help="clip file (.npz)")
    parser.add_argument("--out", required=True, help="GIF to write")
    parser.add_argument("--fps", type=float, default=DEFAULT_FPS, help="at most this many GIF frames per second (default 15)")
    parser.add_argument("--frames", help="clip frames a:b to draw (Python slice; default all)")
    args = parser.parse_args(argv)
    try:
        path = preview(args.clip, args.out, args.fps, args.frames)
    except (ClipError, PreviewError) as exc:
        print(f"intermask preview: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
