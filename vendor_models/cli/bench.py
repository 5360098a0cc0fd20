"""`intermask bench`: what an animator waits for, measured through the real worker process.

Latency is taken the way the add-on sees it (request line written → ``result`` line read, clip files
written), not inside the model, so process, protocol and file costs count. Reports: worker cold start
(spawn → ``ready``, spawn → first result), warm latency for 2/6/10-second clips (median of several
runs, each with its own seed), the worker's peak resident memory, and on a GPU its peak allocation.

    intermask bench [--model NAME | --checkpoint DIR | --official-random] [--threads 1 2] [--seconds 10] [--json]

``--official-random`` benchmarks the official InterMask architecture at full size with random weights
(no download needed); sampler settings default to the model's own (20 steps for the official model).
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

from ..motion import model_store
from ..motion.clip_file import Clip
from ..motion.protocol import Error, Generate, Message, Ready, Result, SamplerSettings, Shutdown, parse
from ..motion.worker_launch import spawn_worker, worker_command, worker_environment
from ..worker.process import default_threads

#: (10 s clip seconds, peak worker memory MB) an animator should wait for / give: our small model, and the
#: official full-size one on a 2-core CPU with 2 threads.
GOALS = {"intermask": (1.0, None), model_store.OFFICIAL_KIND: (10.0, 1536.0)}


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
              steps: int | None) -> dict[str, Any]:
    """One worker with ``threads`` CPU threads: cold start, then ``runs`` jobs per clip length."""
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
            used_steps, gpu_peak = None, []
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
                    gpu_peak += [result.timings["cuda_peak_mb"]] if "cuda_peak_mb" in result.timings else []
                    used_steps = used_steps or Clip.load(result.clips[0]).meta.get("steps")
                latency[f"{seconds:g}"] = {"median_s": statistics.median(walls), "min_s": min(walls),
                                           "max_s": max(walls), "worker_total_median_s": statistics.median(generate),
                                           "worker_cpu_median_s": statistics.median(cpu) if cpu else None,
                                           "runs": runs}
            peak = worker.peak_rss_mb()
        finally:
            worker.close()
    ten = latency.get("10", {}).get("median_s")
    kind = model_store.read_card(checkpoint or model_store.builtin_folder()).get("kind", "intermask")
    clip_goal, memory_goal = GOALS.get(kind, GOALS["intermask"])
    met = None if ten is None else ten <= clip_goal and (memory_goal is None or peak is None or peak <= memory_goal)
    return {
        "model": ready.model, "device": ready.device, "versions": ready.versions, "cpu_count": os.cpu_count(),
        "threads": threads or default_threads(),
        "steps": used_steps, "cold_start": cold, "latency": latency, "peak_rss_mb": peak,
        "gpu_peak_mb": max(gpu_peak) if gpu_peak else None,
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "goal": {"clip_10s_max_s": clip_goal, "peak_rss_max_mb": memory_goal, "met": met},
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
    if report["gpu_peak_mb"] is not None:
        lines.append(f"GPU peak allocation: {report['gpu_peak_mb']:.0f} MB")
    if goal["met"] is not None:
        verdict = "met" if goal["met"] else "NOT met"
        memory = f" and ≤ {goal['peak_rss_max_mb']:g} MB" if goal["peak_rss_max_mb"] else ""
        lines.append(f"goal: 10 s clip in ≤ {goal['clip_10s_max_s']:g} s{memory} — {verdict}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="intermask bench", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON (a list for several --threads)")
    model_store.add_model_arguments(parser)
    parser.add_argument("--official-random", action="store_true",
                        help="the official InterMask architecture at full size with random weights (no download)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--threads", type=int, nargs="+", default=[0],
                        help="worker CPU threads, one worker per value (default: the worker's own)")
    parser.add_argument("--runs", type=int, default=5, help="warm runs per clip length (median reported)")
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 6.0, 10.0], help="clip lengths")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps per job (default: the model's own)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.official_random and (args.model or args.checkpoint):
        parser.error("--official-random builds its own model: leave out --model/--checkpoint")
    reports = []
    try:
        with tempfile.TemporaryDirectory(prefix="intermask-bench-model-") as tmp:
            checkpoint: Path | None
            if args.official_random:
                from ..models.official.random_model import write_random_official

                print("writing the full-size random official model…", file=sys.stderr, flush=True)
                checkpoint = write_random_official(Path(tmp) / "official-random")
            else:
                checkpoint = model_store.chosen_folder(args)
            for threads in args.threads:
                reports.append(run_bench(checkpoint, args.device, threads, args.runs, args.seconds, args.steps))
                if not args.json:
                    print(format_table(reports[-1]), flush=True)
    except (BenchError, model_store.ModelStoreError) as exc:
        print(f"intermask bench: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2))
    return 0
