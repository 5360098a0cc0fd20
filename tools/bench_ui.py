#!/usr/bin/env python3
"""How long Blender's UI thread is busy during a real InterMask job.

    .venv/bin/python tools/bench_ui.py [--jobs 3] [--seconds 10] [--json]

Runs real Generate jobs through the add-on's operator and the real worker, calling the add-on's timer
callback at the timer's own interval (bpy as a module has no event loop, so timers do not fire by
themselves; the callback and its interval are exactly what Blender would run). Prints the longest and
mean tick, the time Generate's button takes to return, and Apply (the bake, which does run on the UI
thread by design) for the clip length asked for.
"""

# fake-bpy-module types every context member as Optional and RNA collections as unions of all ID types:
# mypy: disable-error-code="union-attr,override,attr-defined,assignment"

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import bpy  # noqa: E402  (first: it puts Blender's addon_utils on the path)
import addon_utils  # noqa: E402, I001


def run(jobs: int, seconds: float, checkpoint: str) -> dict[str, float]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("intermask_blender", default_set=True)
    prefs = bpy.context.preferences.addons["intermask_blender"].preferences
    prefs.checkpoint, prefs.device = checkpoint, "cpu"
    from intermask_blender.client import job

    scene = bpy.context.scene
    scene.render.fps = 30
    settings = scene.intermask
    settings.prompt, settings.seconds = "two people dance salsa together", seconds
    longest, means, submits, walls, ticks = [], [], [], [], 0
    for seed in range(jobs):
        settings.seed = seed
        began = time.perf_counter()
        bpy.ops.intermask.generate()
        submits.append(time.perf_counter() - began)
        while job.busy():
            time.sleep(job.TICK_INTERVAL)
            job.tick()
        walls.append(time.perf_counter() - began)
        if settings.status_is_error:
            raise SystemExit(f"job failed: {settings.status}")
        stats = job.stats()
        longest.append(stats.longest)
        means.append(stats.total / max(stats.ticks, 1))
        ticks += stats.ticks
    began = time.perf_counter()
    bpy.ops.intermask.apply()
    apply_s = time.perf_counter() - began
    job.shutdown()
    return {
        "jobs": jobs, "clip_seconds": seconds, "ticks": ticks,
        "longest_tick_ms": max(longest) * 1e3, "mean_tick_ms": statistics.mean(means) * 1e3,
        "generate_button_ms": max(submits) * 1e3, "job_wall_s_median": statistics.median(walls),
        "first_job_wall_s": walls[0], "apply_ms": apply_s * 1e3,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--checkpoint", default="", help="model folder (default: the shipped one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.jobs, args.seconds, args.checkpoint)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:<22} {value:10.2f}" if isinstance(value, float) else f"{key:<22} {value:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
