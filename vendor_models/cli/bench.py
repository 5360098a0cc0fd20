"""`intermask bench`: what an animator waits for, measured through the real worker process.

Latency is taken the way the add-on sees it (request line written → ``result`` line read, clip files
written), not inside the model, so process, protocol and file costs count. Reports: worker cold start
(spawn → ``ready``, spawn → first result), warm latency for 2/6/10-second clips (median of several
runs, each with its own seed), and the worker's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from ..motion.protocol import DEFAULT_STEPS, Error, Generate, Message, Ready, Result, SamplerSettings, Shutdown, parse
from ..motion.worker_launch import spawn_worker, worker_command, worker_environment
from ..worker.process import default_threads

GOAL_10S_CLIP_S = 1.0


class BenchError(RuntimeError):
    """The worker failed or went away during the benchmark; the message carries its last log lines."""


class WorkerProcess:
    """A worker spawned the way the add-on spawns it, driven synchronously (one request at a time)."""

    def __init__(self, checkpoint: Path | None, device: str, threads: int, log: IO[str]) -> None:
        cmd = worker_command(sys.executable, device=device, checkpoint=checkpoint, threads=threads,
                             parent_pid=os.getpid())
        self.log = log
        self.started = time.perf_counter()
        self.proc = spawn_worker(cmd, worker_environment(), log)

    def send(self, message: Message) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(message.to_json() + "\n")
        self.proc.stdin.flush()

    def next(self) -> Message:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.log.flush()
            self.log.seek(0)
            tail = " | ".join(self.log.read().splitlines()[-5:])
            raise BenchError(f"the worker exited (code {self.proc.wait()}): {tail}")
        return parse(line)

    def until_end(self, job_id: str) -> Result:
        while True:
            message = self.next()
            if isinstance(message, Error) and message.id == job_id:
                raise BenchError(f"job failed: {message.message} ({message.code})")
            if isinstance(message, Result) and message.id == job_id:
                return message

    def cpu_seconds(self) -> float | None:
        """CPU time the worker has used so far (Linux /proc); with one thread it is what the wall time
        would be on an idle CPU, so it separates the model's cost from other processes' contention."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def peak_rss_mb(self) -> float | None:
        """VmHWM of the live worker (Linux); None where /proc does not exist."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.send(Shutdown("worker"))
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_bench(checkpoint: Path | None, device: str, threads: int, runs: int, lengths: list[float],
              steps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="intermask-bench-") as tmp, \
            open(Path(tmp) / "worker.log", "w+", encoding="utf-8") as log:
        worker = WorkerProcess(checkpoint, device, threads, log)
        try:
            worker.send(Generate("cold", prompt="two people greet each other", seconds=6.0,
                                 sampler=SamplerSettings(steps=steps), out_dir=str(Path(tmp) / "cold")))
            ready: Ready | None = None
            ready_s = 0.0
            while ready is None:
                message = worker.next()
                if isinstance(message, Ready):
                    ready, ready_s = message, time.perf_counter() - worker.started
                elif isinstance(message, Error) and message.id in ("cold", "worker"):
                    raise BenchError(f"{message.message} ({message.code})")
            worker.until_end("cold")
            cold = {"spawn_to_ready_s": ready_s, "spawn_to_first_result_s": time.perf_counter() - worker.started,
                    "model_loaded_at_ready": ready.loaded}
            latency: dict[str, dict[str, float | None]] = {}
            for seconds in lengths:
                walls, generate, cpu = [], [], []
                for run in range(runs):
                    job = Generate(f"warm-{seconds:g}-{run}", prompt="two people dance together", seconds=seconds,
                                   sampler=SamplerSettings(seed=run + 1, steps=steps), out_dir=str(Path(tmp) / "warm"))
                    began, cpu_began = time.perf_counter(), worker.cpu_seconds()
                    worker.send(job)
                    result = worker.until_end(job.id)
                    walls.append(time.perf_counter() - began)
                    cpu_now = worker.cpu_seconds()
                    if cpu_now is not None and cpu_began is not None:
                        cpu.append(cpu_now - cpu_began)
                    generate.append(result.timings.get("job_s", float("nan")))
                latency[f"{seconds:g}"] = {"median_s": statistics.median(walls), "min_s": min(walls),
                                           "max_s": max(walls), "worker_total_median_s": statistics.median(generate),
                                           "worker_cpu_median_s": statistics.median(cpu) if cpu else None,
                                           "runs": runs}
            peak = worker.peak_rss_mb()
        finally:
            worker.close()
    ten = latency.get("10", {}).get("median_s")
    return {
        "model": ready.model, "device": ready.device, "versions": ready.versions, "cpu_count": os.cpu_count(),
        "threads": threads or default_threads(),
        "steps": steps, "cold_start": cold, "latency": latency, "peak_rss_mb": peak,
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "goal": {"clip_10s_max_s": GOAL_10S_CLIP_S, "met": None if ten is None else ten <= GOAL_10S_CLIP_S},
    }


def format_table(report: dict[str, Any]) -> str:
    cold, goal = report["cold_start"], report["goal"]
    lines = [
        f"InterMask bench: model {report['model']} on {report['device']} "
        f"(torch {report['versions'].get('torch', '?')}, {report['threads']} of {report['cpu_count']} CPU threads, "
        f"{report['steps']} steps)",
        f"cold start: spawn → ready {cold['spawn_to_ready_s']:.2f} s, spawn → first 6 s clip "
        f"{cold['spawn_to_first_result_s']:.2f} s (model loaded at ready: {cold['model_loaded_at_ready']})",
        f"load average while measuring: {report['load_average_1min']}",
        "clip    median s   min s   max s   in worker s   worker CPU s   runs",
    ]
    for seconds, row in report["latency"].items():
        cpu = row["worker_cpu_median_s"]
        lines.append(f"{seconds:>3} s  {row['median_s']:8.3f} {row['min_s']:7.3f} {row['max_s']:7.3f} "
                     f"{row['worker_total_median_s']:11.3f}  {cpu if cpu is None else f'{cpu:12.3f}'}   {row['runs']:4d}")
    peak = report["peak_rss_mb"]
    lines.append(f"worker peak memory: {peak:.0f} MB" if peak is not None else "worker peak memory: not measurable here")
    if goal["met"] is not None:
        verdict = "met" if goal["met"] else "NOT met"
        lines.append(f"goal: 10 s clip in ≤ {goal['clip_10s_max_s']:g} s — {verdict}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="intermask bench", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--checkpoint", type=Path, default=None, help="checkpoint folder (default: the shipped one)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--threads", type=int, default=0, help="worker CPU threads (default: the worker's own)")
    parser.add_argument("--runs", type=int, default=5, help="warm runs per clip length (median reported)")
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 6.0, 10.0], help="clip lengths")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="sampling steps per job")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        report = run_bench(args.checkpoint, args.device, args.threads, args.runs, args.seconds, args.steps)
    except BenchError as exc:
        print(f"intermask bench: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0
