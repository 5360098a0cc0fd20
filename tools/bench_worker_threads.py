#!/usr/bin/env python3
"""Which threads of the worker use the CPU during a job, and how many cores it takes in all (Linux).

    PYTHONPATH=. .venv/bin/python tools/bench_worker_threads.py [--jobs 2] [--seconds 6] [--json]

Starts the real worker the way the add-on does (worker_launch, default threads: all cores but one),
waits for the model, then runs Generate jobs while sampling /proc/<pid>/task/*/stat every 20 ms. Prints,
per thread (name and id), the CPU seconds it used during the jobs, and the worker's CPU seconds per wall
second: above the worker's torch threads means something else in it competes for Blender's core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from intermask_blender.client.worker_client import WorkerClient
from vendor_models.motion import protocol

TICK_S = os.sysconf("SC_CLK_TCK")


def thread_times(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of each live thread, keyed 'name/tid'."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended between listing and reading
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        found[f"{name}/{task.name}"] = (int(fields[11]) + int(fields[12])) / TICK_S
    return found


def run(jobs: int, seconds: float) -> dict[str, object]:
    client = WorkerClient(sys.executable, None, "cpu")
    with tempfile.TemporaryDirectory(prefix="intermask_bench_") as out:
        try:
            client.start()
            while client.ready is None:
                client.poll(timeout=0.2)
            pid = client._proc.pid  # type: ignore[union-attr]
            before, began = thread_times(pid), time.perf_counter()
            last = dict(before)
            for number in range(jobs):
                request = protocol.job_request("two people dance salsa together",
                                               protocol.SamplerSettings(seed=number), out, seconds=seconds)
                client.submit(request)
                while client.job_id is not None:
                    client.poll(timeout=0.02)
                    last.update(thread_times(pid))
            wall = time.perf_counter() - began
        finally:
            client.shutdown()
    used = {name: last[name] - before.get(name, 0.0) for name in last}
    busy = {name: round(cpu, 3) for name, cpu in sorted(used.items(), key=lambda kv: -kv[1])}
    return {"wall_s": round(wall, 2), "cpu_s": round(sum(used.values()), 2),
            "cores_used": round(sum(used.values()) / wall, 2), "threads": busy, "cpu_count": os.cpu_count()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(args.jobs, args.seconds)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{args.jobs} jobs of {args.seconds:g} s: {report['wall_s']} s wall, {report['cpu_s']} CPU s, "
          f"{report['cores_used']} cores of {report['cpu_count']}")
    for name, cpu in report["threads"].items():  # type: ignore[attr-defined]
        print(f"  {cpu:7.2f} s  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
