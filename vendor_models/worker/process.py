"""`intermask worker`: the background process the add-on talks to, JSON lines on stdin/stdout.

Why a process: torch never enters Blender's interpreter, a crashed model never takes Blender down, and
ending the process is the one sure way to give memory back. Why threads inside it: a reader thread must
see ``cancel`` while a job runs on the main thread, and a watchdog must notice when the parent is gone.
stdout carries protocol lines only: file descriptor 1 is pointed at stderr at start-up, so a stray
print from any library (or C code) lands in the log instead of corrupting the stream.
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, TextIO

from .. import __version__
from ..motion.clip_file import Clip
from ..motion.protocol import (
    REQUEST_TYPES,
    WORKER_ID,
    Cancel,
    Error,
    ErrorCode,
    JobRequest,
    Message,
    Progress,
    ProtocolError,
    React,
    Ready,
    Result,
    Shutdown,
    Unload,
    parse,
)
from ..motion.worker_launch import default_threads
from .state import Channel, Job, JobState
from .watchdog import watch_parent

POLL_S = 0.05  # how often a job waiting on a model load looks at its cancel flag
MESSAGE_CHARS = 600


def log(text: str) -> None:
    print(f"[intermask worker] {text}", file=sys.stderr, flush=True)


class JobError(Exception):
    """A job that ends with an ``error`` reply of ``code``; the message is kept to one line for a status bar."""

    def __init__(self, code: str, message: str) -> None:
        message = " ".join(message.split())
        message = message if len(message) <= MESSAGE_CHARS else message[: MESSAGE_CHARS - 1] + "…"
        super().__init__(message)
        self.code = code
        self.message = message


class ModelSlot:
    """The generator, loaded in a helper thread so that a job waiting on a load still sees cancel."""

    def __init__(self, checkpoint: Path | None, device: str, threads: int = 0) -> None:
        self.checkpoint, self.device, self.threads = checkpoint, device, threads or default_threads()
        self._lock = threading.Lock()
        self._model: Any = None
        self._error: JobError | None = None
        self._thread: threading.Thread | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def name(self) -> str:
        if self._model is not None:
            return str(self._model.name)
        return self.checkpoint.name if self.checkpoint else "default"

    @property
    def resolved_device(self) -> str:
        """The device jobs run on: the model's when loaded, else what ``--device`` resolves to."""
        if self._model is not None:
            return str(self._model.device)
        try:
            from ..generation.generator import select_device
            return str(select_device(self.device))
        except Exception as exc:  # a device that cannot be had is reported by the next load
            log(f"device {self.device!r}: {exc}")
            return self.device

    def _load(self) -> None:
        folder: Any = self.checkpoint or "the default checkpoint"
        try:
            import torch

            from ..generation.generator import DEFAULT_CHECKPOINT, Generator
            torch.set_num_threads(self.threads)
            folder = self.checkpoint or DEFAULT_CHECKPOINT
            started = time.perf_counter()
            self._model = Generator.load(folder, device=self.device)
            log(f"loaded {self._model.name} on {self._model.device} ({self.threads} CPU threads) in "
                f"{time.perf_counter() - started:.2f} s")
        except Exception as exc:  # reported to the job that waits for the model, never a dead worker
            traceback.print_exc(file=sys.stderr)
            error = as_job_error(exc, default=ErrorCode.CHECKPOINT)
            if error.code == ErrorCode.CHECKPOINT and getattr(exc, "code", None) is None:
                error = JobError(error.code, f"cannot load the checkpoint in {folder}: {error.message}")
            self._error = error

    def get(self, should_stop: Callable[[], bool]) -> tuple[Any, float]:
        """The loaded generator and the seconds spent waiting for it; loads it if needed."""
        started = time.perf_counter()
        with self._lock:
            if self._model is None and (self._thread is None or not self._thread.is_alive()):
                self._error = None
                self._thread = threading.Thread(target=self._load, name="model-load", daemon=True)
                self._thread.start()
            thread = self._thread
        while thread is not None and thread.is_alive():
            thread.join(POLL_S)
            if should_stop():
                raise JobError(ErrorCode.CANCELLED, "cancelled while the model was loading")
        if self._error is not None:
            raise self._error
        import torch

        torch.set_num_threads(self.threads)  # OpenMP's thread count is per calling thread, and this one runs jobs
        return self._model, time.perf_counter() - started

    def unload(self) -> None:
        """Drop the generator (waiting out a load in progress) and hand freed memory back."""
        if self._thread is not None:
            self._thread.join()
        device = str(getattr(self._model, "device", ""))
        self._model = None
        import gc
        gc.collect()
        if device.startswith("cuda"):
            import torch
            torch.cuda.empty_cache()


def as_job_error(exc: BaseException, default: str = ErrorCode.INTERNAL) -> JobError:
    """One-line :class:`JobError` for any exception; the generator's own errors keep their code."""
    if isinstance(exc, JobError):
        return exc
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(code, str) and code:
        return JobError(code, message)
    if isinstance(exc, ImportError):
        return JobError(ErrorCode.INTERNAL, f"{sys.executable} cannot import the model code: {message}")
    return JobError(default, f"{type(exc).__name__}: {message}".splitlines()[0])


class Worker:
    """Runs jobs one at a time on the main thread while the reader thread answers what needs no model."""

    def __init__(self, channel: Channel, slot: ModelSlot) -> None:
        self.channel, self.slot = channel, slot
        self.state = JobState()
        self.inbox: queue.Queue[Job | Unload | None] = queue.Queue()

    def read(self, stdin: TextIO) -> None:
        """Reader thread: parse each line; answer cancel, busy and bad lines at once; queue the rest."""
        for line in stdin:
            if not line.strip():
                continue
            try:
                message = parse(line)
                if message.TYPE not in REQUEST_TYPES:
                    raise ProtocolError(f"'{message.TYPE}' is a reply, not a request", job_id=message.id)
            except ProtocolError as exc:
                self.channel.send(Error(exc.job_id or WORKER_ID, exc.code, str(exc)))
                continue
            if isinstance(message, Cancel):
                self._cancel(message.id)
            elif isinstance(message, Shutdown):
                break
            elif isinstance(message, JobRequest):
                job, held = self.state.accept(message)
                if job is not None:
                    self.inbox.put(job)
                elif held is not None:
                    self.channel.send(Error(message.id, ErrorCode.BUSY,
                                            f"job '{held.request.id}' is still running; one job at a time"))
            elif isinstance(message, Unload):
                if self.state.held is not None:
                    self.channel.send(Error(message.id, ErrorCode.BUSY, "cannot unload while a job runs; cancel it first"))
                else:
                    self.inbox.put(message)
        self._cancel(None)
        self.inbox.put(None)

    def _cancel(self, job_id: str | None) -> None:
        stopped = self.state.stop(job_id)
        if stopped is not None:
            self.channel.send(Error(stopped.request.id, ErrorCode.CANCELLED, "cancelled"))
        elif job_id is not None:
            self.channel.send(Error(job_id, ErrorCode.UNKNOWN_JOB, f"no job '{job_id}' is running"))

    def ready(self) -> Ready:
        import numpy
        versions = {"python": platform.python_version(), "numpy": numpy.__version__, "intermask": __version__}
        try:
            import torch
            versions["torch"] = torch.__version__
        except ImportError:  # a wrong interpreter: still answer, so the add-on can say what is missing
            versions["torch"] = "not installed"
        return Ready(WORKER_ID, model=self.slot.name, device=self.slot.resolved_device, loaded=self.slot.loaded,
                     versions=versions)

    def serve(self) -> int:
        """Main thread: load the model eagerly, say ready, then run queued requests until told to stop."""
        try:
            self.slot.get(lambda: False)
        except JobError as exc:
            self.channel.send(Error(WORKER_ID, exc.code, exc.message))
        self.channel.send(self.ready())
        while True:
            message = self.inbox.get()
            if message is None:
                return 0
            if isinstance(message, Unload):
                self.slot.unload()
                self.channel.send(self.ready())
            elif not message.answered:  # a job cancelled while queued is skipped
                reply = self.run_job(message.request, message.cancel.is_set)
                if self.state.finish(message):
                    self.channel.send(reply)

    def run_job(self, job: JobRequest, should_stop: Callable[[], bool]) -> Message:
        """One job → its ``result`` or ``error``; no exception escapes, so the worker lives on.

        Input is validated by the generator (one place for every front end), so the model loads first.
        """
        started = time.perf_counter()
        try:
            from ..generation.jobs import run_request

            folder = out_folder(job)
            model, load_s = self.slot.get(should_stop)

            def progress(step: int, total: int, stage: str) -> None:
                self.channel.send(Progress(job.id, step=int(step), total=int(total), stage=str(stage)))

            output = run_request(model, job, progress, should_stop)
            if should_stop():
                raise JobError(ErrorCode.CANCELLED, "cancelled")
            write_started = time.perf_counter()
            paths = save_clips(output.clips, job, folder)
            timings = {**{k: float(v) for k, v in dict(output.timings).items()}, "load_s": load_s,
                       "write_s": time.perf_counter() - write_started, "job_s": time.perf_counter() - started}
            return Result(job.id, clips=paths, timings=timings, warnings=list(output.warnings))
        except Exception as exc:  # every failure becomes a one-line reply; the traceback goes to the log
            error = as_job_error(exc)
            if error.code == ErrorCode.INTERNAL and not isinstance(exc, JobError):
                traceback.print_exc(file=sys.stderr)
            if isinstance(job, React) and error.code == ErrorCode.BAD_PARTNER and job.partner not in error.message:
                error = JobError(error.code, f"{job.partner}: {error.message}")  # say which file was sent
            return Error(job.id, error.code, error.message)


def _stem(job: JobRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", job.id)[:64] or "job"


def _unwritable(job: JobRequest, exc: OSError) -> JobError:
    where = job.out_dir or "a temporary folder"
    return JobError(ErrorCode.BAD_REQUEST, f"cannot write clips to {where}: {exc.strerror or exc}")


def out_folder(job: JobRequest) -> Path:
    """The job's ``out_dir`` (created) or a fresh temporary folder, checked before any model work."""
    try:
        folder = Path(job.out_dir) if job.out_dir else Path(tempfile.mkdtemp(prefix=f"intermask-{_stem(job)}-"))
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(job, exc) from exc
    if not os.access(folder, os.W_OK):
        raise _unwritable(job, PermissionError(13, "permission denied"))
    return folder


def save_clips(clips: list[Clip], job: JobRequest, folder: Path) -> list[str]:
    """Write one ``.npz`` per variation, named after the job id."""
    try:
        return [str(clip.save(folder / f"{_stem(job)}_{k + 1}.npz").resolve()) for k, clip in enumerate(clips)]
    except OSError as exc:
        raise _unwritable(job, exc) from exc


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="intermask worker", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="checkpoint folder (default: the shipped one)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for torch (default: all cores but one, which stays with Blender's UI)")
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="exit when this process ends (default: the process that started the worker)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the client's to handle
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    channel = Channel(protocol_out)
    watch_parent(args.parent_pid)
    worker = Worker(channel, ModelSlot(args.checkpoint, args.device, max(0, args.threads)))
    stdin = open(sys.stdin.fileno(), "r", encoding="utf-8", errors="replace", closefd=False)
    threading.Thread(target=worker.read, args=(stdin,), name="stdin-reader", daemon=True).start()
    code = worker.serve()
    log("exiting")
    sys.stderr.flush()
    os._exit(code)  # a model load may still run in a daemon thread; skip interpreter teardown
