"""Progress of a VQ-VAE run from its logs: a table, a plot, and when the MPJPE target would be reached.

Why: the long runs are resumed across sessions and watched by people who did not start them; this reads
only the run folder (``log.jsonl``, ``report.jsonl``), so it works while the run trains.
The projection fits MPJPE = a + b·ln(step) to the later half of a curve (error curves of these runs
flatten roughly logarithmically) and converts the step where it meets the target into wall time at the
run's recent speed; it is made for the held-out pair windows (the target's own measure) and for the
loop's val windows (more points, earlier). It is an extrapolation and says so; a flat or rising fit says "not reached".
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

TARGET_MM = 70.0


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines log (empty when the file does not exist yet)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def report_curve(reports: list[dict[str, Any]], split: str = "test") -> list[tuple[int, float, float]]:
    """(step, wall s, MPJPE mm) of the held-out pair windows of one split."""
    return [(r["step"], r["wall_s"], r[split]["mpjpe_mm"]) for r in reports]


def selection_curve(log: list[dict[str, Any]]) -> list[tuple[int, float, float]]:
    """(step, wall s, MPJPE mm) of the training loop's val windows (64 frames, singles included)."""
    return [(r["step"], r["wall_s"], r["val_mpjpe_mm"]) for r in log if "val_mpjpe_mm" in r]


def projection(curve: list[tuple[int, float, float]], target: float = TARGET_MM) -> dict[str, Any]:
    """Step and hours from the last point at which MPJPE = a + b·ln(step), fitted to the later half of
    ``curve`` (at least 3 points), reaches ``target`` mm; the speed is that of the same points."""
    points = [p for p in curve if p[0] > 0]
    if len(points) < 3:
        return {"status": "too few points to fit"}
    steps, walls, errors = (np.array(v, dtype=float) for v in zip(*points))
    recent = slice(min(len(steps) // 2, len(steps) - 3), None)     # the later half, at least 3 points
    slope, intercept = np.polyfit(np.log(steps[recent]), errors[recent], 1)
    seconds_per_step = float((walls[-1] - walls[recent][0]) / max(steps[-1] - steps[recent][0], 1))
    fit = {"mm_per_ln_step": round(float(slope), 2), "seconds_per_step": round(seconds_per_step, 2),
           "latest_mm": round(float(errors[-1]), 1), "latest_step": int(steps[-1])}
    if errors[-1] <= target:
        return {**fit, "status": "reached", "step": int(steps[errors <= target][0])}
    if slope >= 0:
        return {**fit, "status": "not reached: the error no longer falls"}
    step = math.exp((target - intercept) / slope)
    return {**fit, "status": "projected", "step": int(step),
            "hours_from_now": round((step - steps[-1]) * seconds_per_step / 3600.0, 1)}


def table(reports: list[dict[str, Any]]) -> str:
    """One line per held-out report: step, hours, MPJPE/root/pose/FID on val and test."""
    columns = [f"{split + ' mm':>7} {'root':>6} {'pose':>6} {'FID':>6}" for split in ("val", "test")]
    lines = [f"{'step':>7} {'hours':>6} | " + " | ".join(columns)]
    for r in reports:
        cells = [f"{r[s]['mpjpe_mm']:7.1f} {r[s]['root_mm']:6.1f} {r[s]['pose_mm']:6.1f} {r[s]['fid']:6.1f}"
                 for s in ("val", "test")]
        lines.append(f"{r['step']:>7} {r['wall_s'] / 3600:6.2f} | {cells[0]} | {cells[1]}")
    return "\n".join(lines)


def plot(run: Path, reports: list[dict[str, Any]], log: list[dict[str, Any]], target: float = TARGET_MM) -> Path:
    """``progress.png`` in the run folder: held-out MPJPE (and its root part) and the loop's val MPJPE vs step."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    fig, (ax, ax_fid) = plt.subplots(1, 2, figsize=(11, 4))
    val_loop = [(r["step"], r["val_mpjpe_mm"]) for r in log if "val_mpjpe_mm" in r]
    if val_loop:
        ax.plot(*zip(*val_loop), color="0.7", label="val, 64-frame windows (selection)")
    for split, colour in (("val", "tab:blue"), ("test", "tab:red")):
        steps = [r["step"] for r in reports]
        ax.plot(steps, [r[split]["mpjpe_mm"] for r in reports], "o-", color=colour, label=f"{split} pairs, MPJPE")
        ax.plot(steps, [r[split]["root_mm"] for r in reports], "x--", color=colour, label=f"{split} pairs, root")
        ax_fid.plot(steps, [r[split]["fid"] for r in reports], "o-", color=colour, label=f"{split} recon. FID")
    ax.axhline(target, color="k", lw=0.8, label=f"target {target:.0f} mm")
    ax.set(xlabel="step", ylabel="mm", title=f"VQ-VAE held-out error ({run.name})")
    ax_fid.set(xlabel="step", ylabel="FID (project evaluator)", title="reconstruction FID")
    ax.legend(fontsize=7)
    ax_fid.legend(fontsize=7)
    fig.tight_layout()
    path = run / "progress.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def summarise(run: Path) -> str:
    """The table, the projection and the plot of a run folder, as text for the terminal."""
    reports, log = read_jsonl(run / "report.jsonl"), read_jsonl(run / "log.jsonl")
    if not reports and not log:
        return f"{run}: nothing logged yet"
    text = [table(reports)] if reports else [f"{run}: no held-out reports yet"]
    text.append(f"projection to {TARGET_MM:.0f} mm, test pair windows: " + json.dumps(projection(report_curve(reports))))
    text.append(f"projection to {TARGET_MM:.0f} mm, loop val windows:  " + json.dumps(projection(selection_curve(log))))
    text.append(f"plot: {plot(run, reports, log)}")
    return "\n".join(text)
