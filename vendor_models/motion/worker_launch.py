"""How a worker process is started: its command line, its environment and the pipes (stdlib only).

The add-on's worker client and ``intermask bench`` both start workers through :func:`spawn_worker`, so a
benchmark measures the process an animator gets. It lives in the shared package because the add-on may
import nothing else of ``vendor_models``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import IO


def vendor_root() -> Path:
    """The folder that contains ``vendor_models``: the repo root, or the add-on folder in the extension."""
    return Path(__file__).resolve().parents[2]


def worker_command(python: str | Path, *, device: str = "auto", checkpoint: Path | None = None,
                   threads: int | None = None, parent_pid: int | None = None) -> list[str]:
    """``python -m vendor_models worker`` with its options; ``parent_pid`` arms the watchdog."""
    cmd = [str(python), "-m", "vendor_models", "worker", "--device", device]
    cmd += ["--parent-pid", str(parent_pid)] if parent_pid is not None else []
    cmd += ["--threads", str(threads)] if threads is not None else []
    return cmd + (["--checkpoint", str(checkpoint)] if checkpoint else [])


def default_threads() -> int:
    """All cores this process may run on but one: Blender's UI keeps a core, and on a small busy CPU torch's
    threads would otherwise spin-wait on each other (shared 2-core box, shipped model, 10 s clip: 1 thread
    1.8 s; 2 threads 7-35 s once other processes compete). The affinity mask, not the machine's core count:
    a container or ``taskset`` may allow fewer."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 2
    return max(1, cores - 1)


#: Thread pools the worker's libraries size from these at load time (OpenMP for torch, and the BLAS
#: numpy or torch was built with); by default each would start one thread per core.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def worker_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus ``extra``, with ``vendor_models`` importable, UTF-8 pipes, and thread
    pools of :func:`default_threads` unless the environment already sizes them."""
    env = dict(os.environ)
    env.update(extra or {})
    for name in THREAD_VARIABLES:
        env.setdefault(name, str(default_threads()))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(vendor_root()), env.get("PYTHONPATH", "")) if p)
    env["PYTHONSAFEPATH"] = "1"  # the caller's working folder must not shadow vendor_models (3.11+)
    env.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def spawn_worker(command: list[str], env: Mapping[str, str], stderr: int | IO[str]) -> subprocess.Popen[str]:
    """Start the worker with line-buffered text pipes on stdin/stdout (the protocol) and ``stderr``."""
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # no console window pops up on Windows
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=dict(env),
                            text=True, encoding="utf-8", errors="replace", bufsize=1, creationflags=flags)
