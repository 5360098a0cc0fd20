"""The add-on's side of the worker process: start it, talk JSON lines to it, notice when it dies.

Pure Python (no bpy, no torch) so it runs in Blender's interpreter, in headless commands and in tests
alike; the panel polls :meth:`WorkerClient.poll` from a ``bpy.app.timers`` callback and never waits.
Threads only move bytes (stdout lines into a queue, stderr lines into a ring for crash reports); every
state change happens in :meth:`poll`, on the caller's thread.
"""

from __future__ import annotations

import atexit
import collections
import os
import queue
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import IO, Callable, Mapping

from ..errors import InterMaskError
from ..seam import protocol, worker_launch

CANCEL_GRACE_S = 5.0  # a job not ended this long after cancel gets its worker killed
STDERR_LINES = 40
#: The requests that run the model and end in one result or error (protocol.JobRequest, for isinstance).
JOB_REQUESTS = (protocol.Generate, protocol.React, protocol.Edit, protocol.Extend)


class WorkerClientError(InterMaskError, RuntimeError):
    """A request the client refuses (a job already runs, the worker cannot start)."""


class JobFailed(InterMaskError, RuntimeError):
    """A job that ended with an ``error`` reply; ``code`` is the protocol's error code."""

    def __init__(self, error: "protocol.Error") -> None:
        super().__init__(f"{error.message} ({error.code})")
        self.code = error.code
        self.message = error.message


class _Exited:
    """Queue marker: this worker process's stdout closed and the process ended."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc


class WorkerClient:
    """One worker process, started on demand and restarted on the next job after a crash."""

    def __init__(self, python: str | Path = sys.executable, checkpoint: Path | None = None, device: str = "auto",
                 env_extra: Mapping[str, str] | None = None, log: Callable[[str], None] | None = None) -> None:
        self.python, self.checkpoint, self.device = str(python), checkpoint, device
        self.env_extra = dict(env_extra or {})
        self.log = log
        self.ready: protocol.Ready | None = None  #: the worker's latest ``ready`` message
        self.job_id: str | None = None  #: the job in flight, cleared by poll() when it ends
        self._proc: subprocess.Popen[str] | None = None
        self._messages: queue.Queue[protocol.Message | _Exited] = queue.Queue()
        self._pending: list[protocol.Message] = []  # replies read early (by submit) and owed to the next poll
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._stderr_thread: threading.Thread | None = None
        self._cancel_sent: float | None = None
        self._stopping = False
        _LIVE.add(self)

    # --- process -------------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def command(self) -> list[str]:
        return worker_launch.worker_command(self.python, device=self.device, checkpoint=self.checkpoint,
                                            parent_pid=os.getpid())

    def environment(self) -> dict[str, str]:
        return worker_launch.worker_environment(self.env_extra)

    def start(self) -> None:
        """Start the worker unless it runs; the model loads in the background (``ready`` says when)."""
        if self.alive:
            return
        self._stderr.clear()
        self.ready, self._stopping, self._cancel_sent = None, False, None
        try:
            self._proc = worker_launch.spawn_worker(self.command(), self.environment(), subprocess.PIPE)
        except OSError as exc:
            raise WorkerClientError(f"cannot start the worker with {self.python}: {exc.strerror or exc}") from exc
        assert self._proc.stdout is not None and self._proc.stderr is not None
        threading.Thread(target=self._read_stdout, args=(self._proc, self._proc.stdout, self._messages),
                         name="worker-stdout", daemon=True).start()
        self._stderr_thread = threading.Thread(target=self._read_stderr, args=(self._proc.stderr,),
                                               name="worker-stderr", daemon=True)
        self._stderr_thread.start()

    def _read_stdout(self, proc: subprocess.Popen[str], stream: IO[str], out: queue.Queue) -> None:
        for line in stream:
            try:
                out.put(protocol.parse(line))
            except protocol.ProtocolError as exc:
                self._stderr.append(f"(unreadable reply: {exc}: {line.strip()[:200]})")
        proc.wait()
        out.put(_Exited(proc))

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr.append(line.rstrip())
            if self.log is not None:
                self.log(line.rstrip())

    # --- requests ------------------------------------------------------------------------------------

    def _send(self, message: protocol.Message) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise WorkerClientError("the worker is not running")
        try:
            proc.stdin.write(message.to_json() + "\n")
            proc.stdin.flush()
        except (OSError, ValueError) as exc:
            raise WorkerClientError(f"the worker stopped listening ({exc})") from exc

    def submit(self, request: protocol.JobRequest) -> str:
        """Send a job (starting the worker if needed) and return its id; refuses while a job runs."""
        self._pending = self.poll()  # the last job may have ended while nobody polled
        deadline = time.monotonic() + 2.0
        while self.job_id is not None and not self.alive and time.monotonic() < deadline:
            self._pending = self.poll(timeout=0.1)  # collect the dead worker's crash report first
        if self.job_id is not None:
            raise WorkerClientError(f"a job is already running ({self.job_id}); wait for it or cancel it")
        if not isinstance(request, JOB_REQUESTS):
            raise WorkerClientError(f"submit takes a job ({', '.join(t.TYPE for t in JOB_REQUESTS)}), not {request.TYPE}")
        self.start()
        self._send(request)
        self.job_id, self._cancel_sent = request.id, None
        return request.id

    def cancel(self) -> bool:
        """Ask the running job to stop (True if one runs); a worker that ignores it is killed later."""
        if self.job_id is None or not self.alive:
            return False
        self._send(protocol.Cancel(self.job_id))
        self._cancel_sent = time.monotonic()
        return True

    def unload(self) -> bool:
        """Free the model's memory in the worker (it reloads on the next job); False if none runs."""
        if not self.alive:
            return False
        self._pending = self.poll()  # the last job may have ended while nobody polled
        if self.job_id is not None:
            raise WorkerClientError("cannot unload while a job runs; cancel it first")
        self._send(protocol.Unload(protocol.WORKER_ID))
        return True

    def shutdown(self, timeout: float = 3.0) -> None:
        """Ask the worker to exit, kill it if it has not after ``timeout`` s; the running job is dropped."""
        proc = self._proc
        if proc is None:
            return
        self._stopping = True
        if proc.poll() is None:
            try:
                self._send(protocol.Shutdown(protocol.WORKER_ID))
                assert proc.stdin is not None
                proc.stdin.close()
            except (WorkerClientError, OSError, ValueError):
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self.job_id = None

    # --- replies -------------------------------------------------------------------------------------

    def poll(self, timeout: float = 0.0) -> list[protocol.Message]:
        """Messages received since the last call (waiting up to ``timeout`` s for the first one).

        Tracks the job: its ``result``/``error`` clears :attr:`job_id`. A worker that exits on its own
        yields a synthetic ``error`` (code ``internal``) for the job it was running.
        """
        self._enforce_cancel()
        out, self._pending = self._pending, []
        try:
            wait = timeout > 0 and not out
            item = self._messages.get(timeout=timeout) if wait else self._messages.get_nowait()
            while True:
                out.extend(self._take(item))
                item = self._messages.get_nowait()
        except queue.Empty:
            return out

    def _take(self, item: protocol.Message | _Exited) -> list[protocol.Message]:
        if isinstance(item, _Exited):
            return self._exited() if item.proc is self._proc else []
        if isinstance(item, protocol.Ready):
            self.ready = item
        if isinstance(item, (protocol.Result, protocol.Error)) and item.id == self.job_id:
            self.job_id, self._cancel_sent = None, None
        return [item]

    def _exited(self) -> list[protocol.Message]:
        code = self._proc.returncode if self._proc is not None else None
        if self._stderr_thread is not None:
            self._stderr_thread.join(1.0)
        job_id, self.job_id = self.job_id, None
        if self._stopping and job_id is None:
            return []
        tail = " | ".join(line for line in list(self._stderr)[-5:] if line.strip()) or "(no output)"
        return [protocol.Error(job_id or protocol.WORKER_ID, protocol.ErrorCode.INTERNAL,
                               f"worker crashed: exit code {code}; last stderr lines: {tail}")]

    def _enforce_cancel(self) -> None:
        """Second step of cancel: a job still running CANCEL_GRACE_S after cancel gets its worker killed."""
        if self._cancel_sent is None or self.job_id is None or self._proc is None:
            return
        if time.monotonic() - self._cancel_sent < CANCEL_GRACE_S:
            return
        job_id, self._cancel_sent = self.job_id, None
        self._stopping = True
        self._proc.kill()
        self._stderr.append(f"killed: job {job_id} did not stop within {CANCEL_GRACE_S:g} s of cancel")
        self.job_id = None
        self._messages.put(protocol.Error(job_id, protocol.ErrorCode.CANCELLED,
                                          f"the worker did not stop within {CANCEL_GRACE_S:g} s, so it was "
                                          "stopped; it restarts on the next job"))


def run_job(client: WorkerClient, request: protocol.JobRequest,
            on_progress: Callable[[protocol.Progress], None] | None = None,
            timeout: float | None = None) -> protocol.Result:
    """Run one job to its end (headless use): returns the ``result`` or raises :class:`JobFailed`.

    Ctrl+C cancels the job in the worker before the interrupt propagates.
    """
    job_id = client.submit(request)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            if deadline is not None and time.monotonic() > deadline:
                client.cancel()
                raise WorkerClientError(f"job {job_id} took longer than {timeout:g} s; it was cancelled")
            for message in client.poll(timeout=0.2):
                if message.id != job_id:
                    continue
                if isinstance(message, protocol.Progress) and on_progress is not None:
                    on_progress(message)
                elif isinstance(message, protocol.Result):
                    return message
                elif isinstance(message, protocol.Error):
                    raise JobFailed(message)
    except KeyboardInterrupt:
        if client.cancel():
            client.poll(timeout=2.0)
        raise


_LIVE: "weakref.WeakSet[WorkerClient]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """No worker outlives the interpreter that started it (the worker's watchdog covers hard crashes)."""
    for client in list(_LIVE):
        client.shutdown(timeout=2.0)
