"""The evaluation result as Markdown tables and matplotlib plots (what goes into the model card)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .metrics import R_PRECISION_BATCH

_MODEL_COLUMNS = (("top1", "R@1 ↑"), ("top2", "R@2 ↑"), ("top3", "R@3 ↑"), ("fid", "FID ↓"),
                  ("mm_dist", "MM-Dist ↓"), ("diversity", "Diversity →"), ("multimodality", "MModality ↑"))
_PHYSICAL_COLUMNS = (("skate_contact", "skate, flagged contact (m/s)"), ("skate_ground", "skate, near ground (m/s)"),
                     ("ground_penetration", "ground pen. (cm)"), ("interpenetration", "inter-pen. (cm)"),
                     ("interpenetration_frames", "inter-pen. > 2 cm (frames)"), ("jitter", "jitter (m/s²)"),
                     ("bone_drift", "bone drift (mm)"), ("partner_distance_mean", "partner dist. (m)"),
                     ("partner_distance_w1", "partner dist. W1 vs GT (m)"))


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, dict):
        mean, ci, reps = value["mean"], value["ci95"], value["replications"]
        return f"{mean:.3f} ± {ci:.3f}" if reps > 1 else f"{mean:.3f}"
    if isinstance(value, float) and math.isnan(value):
        return "–"
    return f"{value:.3f}"


def markdown(result: dict[str, Any], evaluator_info: dict[str, Any]) -> str:
    """Both tables plus the facts a reader needs to interpret them."""
    s = result["settings"]
    rows = result["rows"]
    lines = ["## Evaluation", "",
             f"{result['windows']} real test windows of 4 s (CMU salsa trials 14–15, a window every "
             f"{s['stride'] / 30:.1f} s), {s['replications']} replications (caption draw + generation seed), "
             f"mean ± 95 % interval (1.96·std/√R). Sampling: {s['steps']} steps, guidance {s['guidance']}.", "",
             "| | " + " | ".join(title for _, title in _MODEL_COLUMNS) + " |",
             "|---|" + "---|" * len(_MODEL_COLUMNS)]
    for name, row in rows.items():
        metrics = row["metrics"]
        lines.append(f"| {name} | " + " | ".join(_cell(metrics.get(key)) for key, _ in _MODEL_COLUMNS) + " |")
    mpjpe = rows.get("VQ reconstruction", {}).get("mpjpe_mm")
    if mpjpe is not None:
        lines += ["", f"VQ-VAE reconstruction error on the test windows: **MPJPE {mpjpe:.1f} mm**."]
    lines += ["", "Physical metrics (pooled over every frame of the row's clips):", "",
              "| | " + " | ".join(title for _, title in _PHYSICAL_COLUMNS) + " |",
              "|---|" + "---|" * len(_PHYSICAL_COLUMNS)]
    for name, row in rows.items():
        cells = " | ".join(_cell(row["physical"].get(key)) for key, _ in _PHYSICAL_COLUMNS)
        lines.append(f"| {name} | {cells} |")
    best = evaluator_info.get("best", {})
    val = best.get("val_top123")
    lines += ["", "How to read this:", "",
              "- Evaluator: our InterCLIP-style model (`checkpoints/evaluator`), trained contrastively on the train "
              "split's pair windows and captioner texts"
              + (f"; its own val retrieval R@1/2/3 = {val[0]:.2f}/{val[1]:.2f}/{val[2]:.2f}" if val else "") + ".",
              f"- R-precision uses batches of {R_PRECISION_BATCH} (InterGen: 96), so chance is "
              f"{1 / R_PRECISION_BATCH:.3f}/{2 / R_PRECISION_BATCH:.3f}/{3 / R_PRECISION_BATCH:.3f}; none of these "
              "numbers is comparable with published InterHuman numbers (other data, evaluator, text encoder, "
              "test set).",
              "- Ground truth = the test windows scored against a second cut of the same clips (shifted by half a "
              "stride): its FID is the floor that sampling noise alone gives on a test set this small.",
              "- Reaction: the real lead kept, the follow generated. Random train / nearest by text: real training "
              "windows, chosen at random or by caption similarity (MiniLM cosine) — a generator should beat both on "
              "R-precision and stay close to them on FID. Both come from the windows the evaluator was trained on, "
              "which flatters them a little.",
              "- Generation: each window's motion is generated from one of its captions with one seed per "
              "replication (one batched call); each replication scores its generations against a caption drawn "
              "for it. MModality uses those generations per text (10 random pairs per text, unscaled as InterGen).",
              "- Diversity → means 'close to ground truth'.", ""]
    return "\n".join(lines)


def plots(result: dict[str, Any], folder: Path) -> list[Path]:
    """metrics_vs_steps.png and metrics_vs_guidance.png from the sweeps; returns the files written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for key, label in (("steps", "sampling steps"), ("guidance", "guidance scale")):
        points = result["sweeps"][key]
        if not points:
            continue
        x = [p["value"] for p in points]
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
        chance = 1.0 / max(2, min(result["sweeps"]["windows"], R_PRECISION_BATCH))
        panels = (("fid", "FID ↓"), ("top1", f"R-precision top-1 ↑ (chance {chance:.2f})"), ("mm_dist", "MM-Dist ↓"))
        for ax, (metric, title) in zip(axes, panels):
            ax.plot(x, [p[metric] for p in points], marker="o")
            ax.set_xlabel(label)
            ax.set_title(title)
            ax.grid(alpha=0.3)
        fig.suptitle(f"{result['sweeps']['windows']} test windows, one generation each")
        fig.tight_layout()
        path = folder / f"metrics_vs_{key}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
