"""The glue between Blender's UI thread and the worker: one job at a time, polled by ``bpy.app.timers``.

Blender never waits on the worker. :func:`tick` is the timer callback: it drains the worker's messages
(non-blocking), writes progress and status into ``scene.intermask`` and tags the sidebar for redraw.
How long each tick takes is recorded, because a slow tick is a UI stall the animator feels. Work a job
needs on Blender's side first (React reads its partner, Regenerate both armatures) is a :class:`Preparation`
that the same timer runs in slices of about 20 ms, so no tick does a whole job's worth of work.
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
from typing import Protocol

import bpy

from ..errors import USER_ERRORS, InterMaskError
from ..seam import protocol
from .worker_client import WorkerClient

TICK_INTERVAL = 0.1  # seconds between polls while a job runs
JOB_FOLDER_PREFIX = "intermask_"
#: Blender-side work before a job (React's reading of the partner) runs in slices of about this many
#: seconds, one per timer tick, PREPARE_INTERVAL apart, so the UI stays responsive while it runs.
PREPARE_BUDGET_S = 0.02
PREPARE_INTERVAL = 0.01
#: While preparing, the sidebar is redrawn each time the bar moves by this much (a redraw costs 50-120 ms).
PREPARE_REDRAW_STEP = 0.05


class Preparation(Protocol):
    """Work on Blender's side that a job needs before the worker can start it, done a slice per tick."""

    status: str  #: what the progress bar says, e.g. "Reading the partner 40/180"

    def step(self, budget_s: float) -> float:
        """Work for about ``budget_s`` seconds; the fraction done so far (1.0 when finished)."""

    def close(self) -> None:
        """Release what it holds (temporary data), finished or not."""


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
    #: Set while Blender-side work runs before the request goes to the worker (with the request and config).
    prepare: Preparation | None = None
    request: protocol.Generate | protocol.React | protocol.Edit | None = None
    config: WorkerConfig | None = None
    cancelled: bool = False


@dataclass
class TickStats:
    ticks: int = 0
    longest: float = 0.0
    total: float = 0.0


#: The result's kind, by request: Apply bakes a GENERATE or REACT result, and splices an EDIT one into the
#: armatures it was read from.
_MODES: dict[type, str] = {protocol.React: "REACT", protocol.Edit: "EDIT"}


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


def start(scene: bpy.types.Scene, request: protocol.Generate | protocol.React | protocol.Edit, config: WorkerConfig,
          *, partner: str = "", first_frame: int = 0, prepare: Preparation | None = None) -> str:
    """Send ``request`` to the worker and start polling; raises :class:`JobStartError` if a job is running.

    With ``prepare``, the request is sent once the preparation has finished, slice by slice in the timer
    (it writes what the request names, e.g. the partner's clip file); a failed preparation ends the job.
    ``request.out_dir`` (from :func:`new_job_folder`) stays the caller's to discard until this returns;
    from then on the job removes it when it fails or its results are replaced."""
    if _State.job is not None:
        raise JobStartError("a job is already running: wait for it or press Cancel")
    mode = _MODES.get(type(request), "GENERATE")
    job = _Job(request.id, scene.name, mode, request.prompt, partner, first_frame, request.out_dir,
               prepare=prepare, request=request, config=config)
    settings = scene.intermask
    settings.progress = 0.0
    settings.status_is_error = False
    if prepare is None:
        _submit(job)
        settings.status = _submitted_status()
    else:
        settings.status = prepare.status
    _State.job = job
    _State.stats = TickStats()
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=PREPARE_INTERVAL if prepare else TICK_INTERVAL)
    return job.id


def _submit(job: _Job) -> None:
    """Hand the job's request to the worker (started on first use)."""
    assert job.request is not None and job.config is not None
    try:
        _client_for(job.config).submit(job.request)
    except (OSError, RuntimeError) as exc:
        raise JobStartError(f"could not start the worker: {exc}") from exc


def _submitted_status() -> str:
    return "Generating…" if _State.client is not None and _State.client.ready else "Starting the worker…"


def cancel() -> bool:
    """Stop the running job: a preparation ends at the next tick, a worker job when its ``cancelled``
    error arrives in :func:`tick`."""
    if _State.job is None:
        return False
    if _State.job.prepare is not None:
        _State.job.cancelled = True
        return True
    return _State.client is not None and _State.client.cancel()


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
        if _State.job.prepare is not None:
            _State.job.prepare.close()
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
    if job is None or (client is None and job.prepare is None):
        return None
    scene = bpy.data.scenes.get(job.scene_name)
    if scene is None:  # the scene was deleted: nothing to report into
        if job.prepare is not None:
            job.prepare.close()
        elif client is not None:
            client.cancel()
        discard_folder(job.out_dir)
        _State.job = None
        return None
    settings = scene.intermask
    if job.prepare is not None:
        return _prepare(settings, job, job.prepare)
    assert client is not None
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


def _prepare(settings: bpy.types.PropertyGroup, job: _Job, prepare: Preparation) -> float | None:
    """One slice of the job's Blender-side preparation; the request goes to the worker once it is done."""
    before = settings.progress
    if job.cancelled:
        _abandon(settings, job, "Cancelled: the scene is unchanged", is_error=False)
        return None
    try:
        done = prepare.step(PREPARE_BUDGET_S)
        if done >= 1.0:
            prepare.close()
            job.prepare = None
            _submit(job)
    except USER_ERRORS as exc:
        _abandon(settings, job, str(exc), is_error=True)
        return None
    if job.prepare is None:
        settings.progress, settings.status = 0.0, _submitted_status()
        _redraw()
        return TICK_INTERVAL
    settings.progress, settings.status = done, prepare.status
    if int(done / PREPARE_REDRAW_STEP) != int(before / PREPARE_REDRAW_STEP):
        _redraw()
    return PREPARE_INTERVAL


def _abandon(settings: bpy.types.PropertyGroup, job: _Job, status: str, *, is_error: bool) -> None:
    """End a job that never reached the worker: its temporary data and folder go, the scene stays."""
    if job.prepare is not None:
        job.prepare.close()
    discard_folder(job.out_dir)
    _State.job = None
    settings.progress, settings.status, settings.status_is_error = 0.0, status, is_error
    _redraw()


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
    ready = "The stretch" if job.mode == "EDIT" else f"{count} variation{'s' if count != 1 else ''}"
    settings.status = f"{ready} ready in {seconds:.1f} s: preview or Apply"
    settings.status_is_error = False


def _finish_error(settings: bpy.types.PropertyGroup, error: protocol.Error) -> None:
    settings.progress = 0.0
    if error.code == protocol.ErrorCode.CANCELLED:
        settings.status = "Cancelled: the scene is unchanged"
        settings.status_is_error = False
    else:
        settings.status = f"{error.message} ({error.code})"  # what went wrong first: the sidebar shows the start
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
