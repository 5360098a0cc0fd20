"""What long takes and edits in time cost on the CPU, and how clean their joins are.

    .venv/bin/python tools/bench_long_take.py [--model NAME | --checkpoint DIR | --official-random]
                                              [--seconds 30 60] [--steps S] [--runs N] [--json]

For each take length: CPU seconds per generated second; the same total length made as separate clips of
at most 10 s (the windows' cost must stay within 1 + overlap fraction of that, where the overlap fraction
is the share of the take that two windows sample); the velocity jump at every window join and the take's
own 99th percentile, against real salsa motion's 99th percentile; how far person A's root gets from the
take's origin in each window (the windows share the take's first frame as their origin). Then a 2 s
stretch regenerated in a 10 s clip: its CPU time and its two joins. CPU time is this process's (torch on
one thread), so other processes on a shared machine do not inflate it; wall time is printed beside it.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vendor_models.data.build import ensure_cache
from vendor_models.evaluation.seams import (
    frame_change,
    join_jump,
    real_change_percentile,
)
from vendor_models.generation.generator import DEFAULT_CHECKPOINT, Generator
from vendor_models.generation.long_take import take
from vendor_models.generation.time_edit import regenerate
from vendor_models.generation.windows import OVERLAP_STEPS, plan_windows
from vendor_models.motion import model_store
from vendor_models.motion.protocol import (
    FRAMES_PER_TOKEN,
    MAX_SECONDS,
    SamplerSettings,
    Segment,
)

PROMPT = "two people dance salsa holding hands"


def timed(call: Callable[[], Any], runs: int) -> tuple[Any, float, float]:
    """(last result, median CPU s, median wall s) of ``runs`` calls."""
    cpu, wall, result = [], [], None
    for _ in range(runs):
        began_cpu, began = time.process_time(), time.perf_counter()
        result = call()
        cpu.append(time.process_time() - began_cpu)
        wall.append(time.perf_counter() - began)
    return result, statistics.median(cpu), statistics.median(wall)


def bench_take(generator: Generator, seconds: float, sampler: SamplerSettings, runs: int, bar: float) -> dict[str, Any]:
    out, cpu, wall = timed(lambda: take(generator, [Segment(PROMPT, seconds)], sampler=sampler), runs)
    clip = out.clips[0]
    windows = plan_windows(np.ones(clip.num_frames // FRAMES_PER_TOKEN, dtype=bool))
    parts = [MAX_SECONDS] * int(seconds // MAX_SECONDS) + ([seconds % MAX_SECONDS] if seconds % MAX_SECONDS else [])
    separate = [timed(functools.partial(generator.generate, PROMPT, seconds=part, sampler=sampler), runs)[1:]
                for part in parts]
    separate_cpu = sum(c for c, _ in separate)
    overlap = (len(windows) - 1) * OVERLAP_STEPS / (clip.num_frames // FRAMES_PER_TOKEN)
    seams = [join_jump(clip, w.end * FRAMES_PER_TOKEN, reach=4) for w in windows[:-1]]
    roots = [float(np.linalg.norm(clip.positions[w.start * 4:w.end * 4, 0, 0, [0, 2]], axis=-1).mean()) for w in windows]
    return {"seconds": seconds, "windows": len(windows), "cpu_s": cpu, "wall_s": wall,
            "cpu_s_per_second": cpu / seconds, "separate_clips": len(parts), "separate_cpu_s": separate_cpu,
            "separate_wall_s": sum(w for _, w in separate), "cost_ratio": cpu / separate_cpu,
            "overlap_fraction": overlap, "ratio_within_bound": cpu / separate_cpu <= 1.0 + overlap,
            "seam_jumps": seams, "seams_within_real_p99": all(s <= bar for s in seams),
            "take_change_p99": float(np.percentile(frame_change(clip.positions)[1:-1], 99)),
            "root_distance_per_window_m": roots}


def bench_edit(generator: Generator, sampler: SamplerSettings, runs: int, bar: float) -> dict[str, Any]:
    base = generator.generate(PROMPT, seconds=10, sampler=sampler).clips[0]
    out, cpu, wall = timed(lambda: regenerate(generator, base, 120, 179, prompt="the follow spins under the lead's arm",
                                              sampler=sampler), runs)
    jumps = [join_jump(out.clips[0], 120), join_jump(out.clips[0], 180)]
    return {"stretch_s": 2.0, "cpu_s": cpu, "wall_s": wall, "join_jumps": jumps,
            "joins_within_real_p99": all(j <= bar for j in jumps)}


def report_lines(report: dict[str, Any]) -> list[str]:
    lines = [(f"model {report['model']} ({report['steps']} steps, guidance {report['guidance']}), CPU, 1 torch thread; "
              f"real salsa 99th percentile of frame-to-frame velocity change: {report['real_p99']:.4f} m/frame²")]
    for row in report["takes"]:
        bound = "within" if row["ratio_within_bound"] else "ABOVE"
        seams = "all within" if row["seams_within_real_p99"] else "NOT all within"
        lines.append(f"  {row['seconds']:g} s take: {row['windows']} windows, {row['cpu_s']:.2f} CPU s "
                     f"({row['cpu_s_per_second']:.3f} CPU s per generated s; wall {row['wall_s']:.2f} s)")
        lines.append(f"    vs {row['separate_clips']} separate clips: {row['separate_cpu_s']:.2f} CPU s → ratio "
                     f"{row['cost_ratio']:.3f}, bound 1 + overlap {1 + row['overlap_fraction']:.3f}: {bound}")
        lines.append(f"    window joins {', '.join(f'{j:.4f}' for j in row['seam_jumps'])} m/frame² ({seams} real p99); "
                     f"take's own p99 {row['take_change_p99']:.4f}")
        lines.append("    person A's mean distance from the take's origin per window: "
                     f"{', '.join(f'{d:.2f}' for d in row['root_distance_per_window_m'])} m")
    edit = report["edit"]
    verdict = "within" if edit["joins_within_real_p99"] else "NOT within"
    lines.append(f"  2 s stretch of a 10 s clip regenerated: {edit['cpu_s']:.2f} CPU s (wall {edit['wall_s']:.2f}); "
                 f"joins {edit['join_jumps'][0]:.4f}, {edit['join_jumps'][1]:.4f} m/frame² ({verdict} real p99)")
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model_store.add_model_arguments(parser)
    parser.add_argument("--official-random", action="store_true",
                        help="the official architecture at full size with random weights (cost only: its motion is noise)")
    parser.add_argument("--seconds", type=float, nargs="+", default=[30.0, 60.0], help="take lengths (10-60 s)")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's own)")
    parser.add_argument("--runs", type=int, default=1, help="runs per measurement (median)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    bar = real_change_percentile(sorted(ensure_cache().glob("salsa_*.npz")))
    with tempfile.TemporaryDirectory(prefix="intermask-bench-long-") as tmp:
        if args.official_random:
            from vendor_models.models.official.random_model import write_random_official

            folder = write_random_official(Path(tmp) / "official-random")
        else:
            folder = model_store.chosen_folder(args) or DEFAULT_CHECKPOINT
        generator = Generator.load(folder, "cpu")
        sampler = SamplerSettings(seed=1, steps=args.steps)
        guidance, steps = generator.sampler_defaults()
        report = {"model": generator.name, "steps": args.steps or steps, "guidance": guidance, "real_p99": bar,
                  "takes": [bench_take(generator, s, sampler, args.runs, bar) for s in args.seconds],
                  "edit": bench_edit(generator, sampler, args.runs, bar)}
    print(json.dumps(report, indent=1) if args.json else "\n".join(report_lines(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
