"""The glue between Blender's UI thread and the worker: one job at a time, polled by ``bpy.app.timers``.

Blender never waits on the worker. :func:`tick` is the timer callback: it drains the worker's messages
(non-blocking), writes progress and status into ``scene.intermask`` and tags the sidebar for redraw.
How long each tick takes is recorded, because a slow tick is a UI stall the animator feels.
Nothing here touches the scene's objects: a failed or cancelled job leaves the scene as it was.
"""

# fake-bpy-module types every context member as Optional and RNA collections as unions of all ID types:
# mypy: disable-error-code="union-attr,override,attr-defined,assignment"

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from ..errors import InterMaskError
from ..seam import protocol
from .worker_client import WorkerClient

TICK_INTERVAL = 0.1  # seconds between polls while a job runs
JOB_FOLDER_PREFIX = "intermask_"


class JobStartError(InterMaskError, RuntimeError):
    """A job could not be started (busy, no worker Python, bad request); the message is for the user."""


@dataclass(frozen=True)
class WorkerConfig:
    """What the worker is started with; a change restarts it."""

    python: Path
    checkpoint: Path | None
    device: str


@dataclass
class _Job:
    id: str
    scene_name: str
    mode: str
    prompt: str
    partner: str
    first_frame: int
    out_dir: str
    started: float = field(default_factory=time.perf_counter)


@dataclass
class TickStats:
    ticks: int = 0
    longest: float = 0.0
    total: float = 0.0


class _State:
    client: WorkerClient | None = None
    config: WorkerConfig | None = None
    job: _Job | None = None
    stats = TickStats()
    folders: set[str] = set()  #: job folders this Blender session made, removed when it quits


def new_job_folder() -> Path:
    """A temporary folder for one job's clip files (removed by :func:`discard_folder`)."""
    folder = Path(tempfile.mkdtemp(prefix=JOB_FOLDER_PREFIX))
    _State.folders.add(str(folder))
    return folder


def discard_folder(path: str | Path | None) -> None:
    """Delete a job folder this add-on made; any other path is left alone, whatever it holds."""
    if not path:
        return
    folder = Path(path)
    if folder.name.startswith(JOB_FOLDER_PREFIX) and folder.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(folder, ignore_errors=True)
        _State.folders.discard(str(folder))


def _discard_session_folders() -> None:
    """At exit: the last results' folder is kept for Preview and Apply while Blender runs, not after."""
    for folder in list(_State.folders):
        discard_folder(folder)


def busy() -> bool:
    return _State.job is not None


def stats() -> TickStats:
    return _State.stats


def _client_for(config: WorkerConfig) -> WorkerClient:
    if _State.client is not None and _State.config != config:
        _State.client.shutdown()
        _State.client = None
    if _State.client is None:
        _State.client = WorkerClient(config.python, config.checkpoint, config.device, {})
        _State.config = config
    return _State.client


def start(scene: bpy.types.Scene, request: protocol.Generate | protocol.React, config: WorkerConfig,
          *, partner: str = "", first_frame: int = 0) -> str:
    """Send ``request`` to the worker and start polling; raises :class:`JobStartError` if a job is running.

    ``request.out_dir`` (from :func:`new_job_folder`) stays the caller's to discard until this returns;
    from then on the job removes it when it fails or its results are replaced."""
    if _State.job is not None:
        raise JobStartError("a job is already running: wait for it or press Cancel")
    try:
        job_id = _client_for(config).submit(request)
    except (OSError, RuntimeError) as exc:
        raise JobStartError(f"could not start the worker: {exc}") from exc
    mode = "REACT" if isinstance(request, protocol.React) else "GENERATE"
    _State.job = _Job(job_id, scene.name, mode, request.prompt, partner, first_frame, request.out_dir)
    _State.stats = TickStats()
    settings = scene.intermask
    settings.progress = 0.0
    settings.status_is_error = False
    settings.status = "Generating…" if _State.client is not None and _State.client.ready else "Starting the worker…"
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=TICK_INTERVAL)
    return job_id


def cancel() -> bool:
    """Ask the worker to stop the running job; its ``cancelled`` error ends the job in :func:`tick`."""
    if _State.job is None or _State.client is None:
        return False
    _State.client.cancel()
    return True


def unload() -> bool:
    """Free the model's memory in the worker (it reloads on the next job)."""
    if _State.job is not None:
        raise JobStartError("cannot unload while a job is running: cancel it first")
    if _State.client is None or not _State.client.alive:
        return False
    _State.client.unload()
    return True


def shutdown() -> None:
    """Stop the worker process (add-on disabled, file closed, Blender quitting)."""
    if _State.job is not None:
        discard_folder(_State.job.out_dir)
    _State.job = None
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
    if _State.client is not None:
        _State.client.shutdown()
    _State.client = None
    _State.config = None


def tick() -> float | None:
    """Timer callback: apply the worker's messages; returns the next interval, or None when done."""
    began = time.perf_counter()
    try:
        return _drain()
    finally:
        spent = time.perf_counter() - began
        st = _State.stats
        st.ticks += 1
        st.total += spent
        st.longest = max(st.longest, spent)


def _drain() -> float | None:
    job, client = _State.job, _State.client
    if job is None or client is None:
        return None
    scene = bpy.data.scenes.get(job.scene_name)
    if scene is None:  # the scene was deleted: nothing to report into
        client.cancel()
        discard_folder(job.out_dir)
        _State.job = None
        return None
    settings = scene.intermask
    finished = changed = False
    for message in client.poll():
        changed = True
        if isinstance(message, protocol.Ready):
            settings.status = f"Worker ready on {message.device}"
        if message.id != job.id or finished:  # a progress line the worker sent as the job ended is stale
            continue
        if isinstance(message, protocol.Progress):
            settings.progress = message.step / message.total if message.total else 0.0
            settings.status = f"{message.stage} {message.step}/{message.total}".strip()
        elif isinstance(message, protocol.Result):
            _finish_result(settings, job, message)
            finished = True
        elif isinstance(message, protocol.Error):
            _finish_error(settings, message)
            discard_folder(job.out_dir)
            finished = True
    if changed:  # a sidebar redraw costs 50-120 ms with software GL: only when the panel has news
        _redraw()
    if finished:
        _State.job = None
        return None
    return TICK_INTERVAL


def _finish_result(settings: bpy.types.PropertyGroup, job: _Job, result: protocol.Result) -> None:
    for folder in {str(Path(item.name).parent) for item in settings.results} - {job.out_dir}:
        discard_folder(folder)  # the previous job's variations are replaced by these
    settings.results.clear()
    for path in result.clips:
        settings.results.add().name = path
    settings.result_mode = job.mode
    settings.result_prompt = job.prompt
    settings.result_partner = job.partner
    settings.result_start = job.first_frame
    settings.variation = 1
    settings.progress = 1.0
    seconds = time.perf_counter() - job.started
    count = len(result.clips)
    settings.status = f"{count} variation{'s' if count != 1 else ''} ready in {seconds:.1f} s: preview or Apply"
    settings.status_is_error = False


def _finish_error(settings: bpy.types.PropertyGroup, error: protocol.Error) -> None:
    settings.progress = 0.0
    if error.code == protocol.ErrorCode.CANCELLED:
        settings.status = "Cancelled: the scene is unchanged"
        settings.status_is_error = False
    else:
        settings.status = f"Error ({error.code}): {error.message}"
        settings.status_is_error = True
        print(f"InterMask: {settings.status}")


def _redraw() -> None:
    """Tag every 3D view's sidebar for redraw so the progress bar moves."""
    wm = bpy.context.window_manager
    for window in wm.windows if wm is not None else ():
        screen = window.screen
        for area in screen.areas if screen is not None else ():
            if area.type == "VIEW_3D":
                for region in area.regions:
                    if region.type == "UI":
                        region.tag_redraw()


@bpy.app.handlers.persistent
def _on_load_pre(*_args: object) -> None:
    """Opening another file ends a running job with its worker (the job's scene goes away); an idle
    worker stays warm for the next file."""
    if _State.job is not None:
        shutdown()


def register() -> None:
    bpy.app.handlers.load_pre.append(_on_load_pre)
    atexit.register(_discard_session_folders)  # runs after shutdown (atexit is last in, first out)
    atexit.register(shutdown)


def unregister() -> None:
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    atexit.unregister(shutdown)
    atexit.unregister(_discard_session_folders)
    shutdown()
    _discard_session_folders()
