"""What the worker's two threads share: the protocol stream and the ledger of the job in hand.

The reader thread (stdin) and the main thread (the model) both reply and both touch the current job,
so each piece here is safe to use from either thread, and is small enough to check by reading.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from typing import BinaryIO

from ..motion.protocol import JobRequest, Message


class Channel:
    """The protocol stream: one JSON line per message, written whole under a lock by any thread."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        data = (message.to_json() + "\n").encode("utf-8")
        with self._lock:
            try:
                self._stream.write(data)
                self._stream.flush()
            except (OSError, ValueError):  # the reader of our stdout is gone: nobody to work for
                print("[intermask worker] stdout closed; exiting", file=sys.stderr, flush=True)
                os._exit(0)


@dataclass(eq=False)
class Job:
    """An accepted job request (generate, react, edit, extend), its own cancel flag, and whether it was answered."""

    request: JobRequest
    cancel: threading.Event = field(default_factory=threading.Event)
    answered: bool = False


class JobState:
    """Which job still owes its caller an answer; shared by the reader thread and the main thread.

    Cancel answers at once and flags the job; the main thread stops it at the sampler's next step and
    drops its late reply. So the caller hears ``cancelled`` within a second however long one step takes,
    and a new job may queue behind the cancelled one's last step.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.held: Job | None = None

    def accept(self, request: JobRequest) -> tuple[Job | None, Job | None]:
        """(the new job, None), or (None, the job still held) when the caller must be told busy."""
        with self._lock:
            if self.held is not None:
                return None, self.held
            self.held = Job(request)
            return self.held, None

    def finish(self, job: Job) -> bool:
        """Mark ``job`` answered; False when cancel already answered it (its reply is dropped)."""
        with self._lock:
            if job.answered:
                return False
            job.answered = True
            if self.held is job:
                self.held = None
            return True

    def stop(self, job_id: str | None) -> Job | None:
        """Flag and release the held job (``None`` = whichever); returns it, or None if none matches."""
        with self._lock:
            job = self.held
            if job is None or (job_id is not None and job.request.id != job_id):
                return None
            job.cancel.set()
            job.answered = True
            self.held = None
            return job
