"""Add-on preferences: which Python runs the worker, on which device, with which checkpoint.

"Install dependencies" builds the worker's own environment in the extension's user folder with pip
(only when Blender's online access is allowed) and "Check" asks an interpreter what it would run on.
Both run as background processes polled by a timer, so the preferences window never freezes. A failed
install is shown as an error with its cause taken from pip's output, never as a stalled progress bar.
"""

# fake-bpy-module types every context member as Optional and RNA collections as unions of all ID types:
# mypy: disable-error-code="union-attr,override,attr-defined,assignment"

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import bpy

from ..client import deps, job, pip_failure
from ..errors import InterMaskError, UsageError

DEVICES = [("auto", "Auto", "CUDA, then Apple MPS, then CPU"), ("cuda", "CUDA", "NVIDIA GPU"),
           ("mps", "MPS", "Apple Silicon GPU"), ("cpu", "CPU", "Processor only")]
CHANNELS = [("auto", "Auto", "Pick from the detected GPU"), ("cpu", "CPU", "Small CPU-only torch"),
            ("cu126", "CUDA 12.6", "NVIDIA driver 560 or newer"), ("cu128", "CUDA 12.8", "NVIDIA driver 570 or newer"),
            ("default", "PyPI default", "PyPI's torch (macOS, or CUDA on Linux)")]

#: The add-on's own package (this module sits in its ``ui`` sub-package): Blender's id for the extension.
ADDON_PACKAGE = __package__.rpartition(".")[0]


def user_dir() -> Path:
    """The add-on's writable folder: the extension user folder, or Blender's user data folder when the
    add-on runs from a source checkout (there it is not an extension and has no such folder)."""
    try:
        return Path(bpy.utils.extension_path_user(ADDON_PACKAGE, create=True))
    except ValueError:
        return Path(bpy.utils.user_resource("DATAFILES", path="intermask_blender", create=True))


def env_dir() -> Path:
    return user_dir() / deps.ENV_DIRNAME


def get(context: bpy.types.Context) -> "IM_Preferences | None":
    """These preferences, or None when the add-on was registered without being enabled (scripts, tests)."""
    addon = context.preferences.addons.get(ADDON_PACKAGE)
    return addon.preferences if addon is not None else None  # type: ignore[return-value]


def worker_config(context: bpy.types.Context) -> job.WorkerConfig:
    """The worker set-up the preferences describe; raises :class:`deps.WorkerPythonError` if no Python."""
    prefs = get(context)
    mode, custom, device, checkpoint = "auto", "", "auto", ""
    if prefs is not None:
        mode, custom, device, checkpoint = prefs.python_mode, prefs.python_path, prefs.device, prefs.checkpoint
    python = deps.resolve_worker_python(mode, bpy.path.abspath(custom), env_dir())
    folder = Path(bpy.path.abspath(checkpoint)) if checkpoint else None
    if folder is not None and not folder.is_dir():
        raise UsageError(f"checkpoint folder not found: {folder}")
    return job.WorkerConfig(python, folder, device)


class _Tasks:
    """The background install and check, if any (one of each at a time)."""

    install: deps.CommandChain | None = None
    check: deps.CommandChain | None = None
    install_result = ""
    check_result = ""


def _poll_tasks() -> float | None:
    running = False
    for chain in (_Tasks.install, _Tasks.check):
        if chain is not None and chain.running:
            running = chain.poll() or running
    install, check = _Tasks.install, _Tasks.check
    if install is not None and not install.running and not _Tasks.install_result:
        _Tasks.install_result = _summarise_install(install)
    if check is not None and not check.running and not _Tasks.check_result:
        _Tasks.check_result = _summarise_check(check)
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas if window.screen is not None else ():
            if area.type == "PREFERENCES":
                area.tag_redraw()
    return 0.5 if running else None


def _summarise_check(chain: deps.CommandChain) -> str:
    lines = chain.tail(40)
    if chain.returncode == 0 and lines:
        try:
            found = json.loads(lines[-1])
            return f"Python {found['version']} · torch {found['torch']} · device {found['device']}"
        except (ValueError, KeyError):
            pass
    return "Check failed: " + (lines[-1] if lines else f"exit code {chain.returncode}")


def _summarise_install(chain: deps.CommandChain) -> str:
    """How a finished install ended; for a failure, which step and why (from pip's own output)."""
    if chain.returncode == 0:
        return f"Dependencies installed in {env_dir()}"
    done, total = chain.step
    python = "{}.{}".format(*sys.version_info[:2])
    cause = pip_failure.failure_cause(chain.last_output(), python)
    return f"Install failed at step {done + 1} of {total}: {cause}"


def _start_polling() -> None:
    if not bpy.app.timers.is_registered(_poll_tasks):
        bpy.app.timers.register(_poll_tasks, first_interval=0.2)


class INTERMASK_OT_install_dependencies(bpy.types.Operator):
    """Create the worker's Python environment with PyTorch in the add-on's user folder (downloads ~0.2–3 GB)"""

    bl_idname = "intermask.install_dependencies"
    bl_label = "Install Dependencies"

    def execute(self, context: bpy.types.Context) -> set[str]:
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Online access is off: allow it in Preferences > System > Network, then retry")
            return {"CANCELLED"}
        if _Tasks.install is not None and _Tasks.install.running:
            self.report({"WARNING"}, "The installation is already running")
            return {"CANCELLED"}
        prefs = get(context)
        channel = prefs.torch_channel if prefs is not None else "auto"
        if channel == "auto":
            channel = deps.detect_torch_channel()
        target = env_dir()
        (target / deps.STAMP_NAME).unlink(missing_ok=True)
        _Tasks.install_result = ""
        _Tasks.install = deps.CommandChain(
            deps.install_commands(target, channel), user_dir() / "install.log",
            env=deps.clean_pip_environment(), on_success=[target / deps.STAMP_NAME],
        ).start()
        _start_polling()
        self.report({"INFO"}, f"Installing PyTorch ({channel}) into {target}; progress below")
        return {"FINISHED"}


class INTERMASK_OT_check_worker(bpy.types.Operator):
    """Ask the worker Python which interpreter, torch version and device it would use"""

    bl_idname = "intermask.check_worker"
    bl_label = "Check"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            python = worker_config(context).python
        except InterMaskError as exc:
            _Tasks.check_result = str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        _Tasks.check_result = ""
        _Tasks.check = deps.CommandChain([[str(python), "-c", deps.CHECK_SCRIPT]], user_dir() / "check.log").start()
        _start_polling()
        return {"FINISHED"}


def _draw_install(box: bpy.types.UILayout, install: deps.CommandChain) -> None:
    """Progress while the install runs; afterwards its result, a failure as a wrapped error with the log's path."""
    if install.running:
        done, total = install.step
        box.progress(factor=done / total, text=f"Installing: step {done + 1} of {total}")
        for line in install.tail(6):
            box.label(text=line[-120:])
        return
    first, *more = textwrap.wrap(_Tasks.install_result, 100) or [""]
    box.label(text=first, icon="CHECKMARK" if install.returncode == 0 else "ERROR")
    for line in more:
        box.label(text=line, icon="BLANK1")
    if install.returncode != 0:
        box.label(text=f"Full log: {install.log}")


class IM_Preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    python_mode: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Worker Python",
        items=[("auto", "Auto", "The environment this add-on installs, else an interpreter with torch"),
               ("custom", "Custom", "A Python interpreter you choose (it must have torch)")],
        default="auto",
    )
    python_path: bpy.props.StringProperty(name="Interpreter", subtype="FILE_PATH")  # type: ignore[valid-type]
    device: bpy.props.EnumProperty(name="Device", items=DEVICES, default="auto")  # type: ignore[valid-type]
    checkpoint: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Checkpoint", subtype="DIR_PATH", description="Model folder (empty: the built-in default model)",
    )
    torch_channel: bpy.props.EnumProperty(name="PyTorch Build", items=CHANNELS, default="auto")  # type: ignore[valid-type]

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "python_mode")
        if self.python_mode == "custom":
            layout.prop(self, "python_path")
        try:
            layout.label(text=f"Worker runs: {worker_config(context).python}", icon="CHECKMARK")
        except InterMaskError as exc:
            layout.label(text=str(exc), icon="ERROR")
        layout.prop(self, "device")
        layout.prop(self, "checkpoint")
        row = layout.row()
        row.prop(self, "torch_channel")
        row.operator(INTERMASK_OT_install_dependencies.bl_idname, icon="IMPORT")
        row.operator(INTERMASK_OT_check_worker.bl_idname, icon="VIEWZOOM")
        if not bpy.app.online_access:
            layout.label(text="Installing needs online access (Preferences > System > Network)", icon="INFO")
        if _Tasks.check_result:
            layout.label(text=_Tasks.check_result)
        if _Tasks.install is not None:
            _draw_install(layout.box(), _Tasks.install)


CLASSES = (INTERMASK_OT_install_dependencies, INTERMASK_OT_check_worker, IM_Preferences)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for chain in (_Tasks.install, _Tasks.check):
        if chain is not None and chain.running:
            chain.cancel()
    if bpy.app.timers.is_registered(_poll_tasks):
        bpy.app.timers.unregister(_poll_tasks)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
