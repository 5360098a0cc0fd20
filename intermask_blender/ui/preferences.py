"""Add-on preferences: which Python runs the worker, on which device, with which model.

"Install dependencies" builds the worker's own environment in the extension's user folder with pip
(only when Blender's online access is allowed), "Check" asks an interpreter what it would run on, and
"Import Official Model" runs ``intermask models import-official`` with the worker's Python. All three run
as background processes polled by a timer, so the preferences window never freezes. A failed install is
shown as an error with its cause taken from pip's output, never as a stalled progress bar.
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
from ..seam import model_store, worker_launch
from . import model_choice

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


def worker_python(context: bpy.types.Context) -> Path:
    """The interpreter the preferences choose; raises :class:`deps.WorkerPythonError` if there is none."""
    prefs = get(context)
    mode, custom = (prefs.python_mode, prefs.python_path) if prefs is not None else ("auto", "")
    return deps.resolve_worker_python(mode, bpy.path.abspath(custom), env_dir())


def worker_config(context: bpy.types.Context) -> job.WorkerConfig:
    """The worker set-up the preferences describe: a model chosen in the dropdown, else the Checkpoint
    folder, else the built-in model. Raises :class:`deps.WorkerPythonError` if no Python."""
    prefs = get(context)
    device, checkpoint, model = ("auto", "", "") if prefs is None else (prefs.device, prefs.checkpoint, prefs.model)
    try:
        folder = model_store.model_folder(model)
    except model_store.ModelStoreError as exc:
        raise UsageError(f"{exc}; pick another model in the InterMask panel") from exc
    if folder is None and checkpoint:
        folder = Path(bpy.path.abspath(checkpoint))
        if not folder.is_dir():
            raise UsageError(f"checkpoint folder not found: {folder}")
    return job.WorkerConfig(worker_python(context), folder, device)


class _Tasks:
    """The background install and check, if any (one of each at a time)."""

    install: deps.CommandChain | None = None
    check: deps.CommandChain | None = None
    install_result = ""
    check_result = ""
    official: deps.CommandChain | None = None
    shown: tuple[object, ...] = ()  #: what the preferences showed of the tasks when last redrawn


def forget_check(_prefs: object = None, _context: object = None) -> None:
    """What Check found is about the worker set-up it ran on: a change of Python, device or model makes it
    stale, so it leaves the screen (a Check still running is stopped)."""
    if _Tasks.check is not None and _Tasks.check.running:
        _Tasks.check.cancel()
    _Tasks.check, _Tasks.check_result = None, ""


def _poll_tasks() -> float | None:
    running = False
    for chain in (_Tasks.install, _Tasks.check, _Tasks.official):
        if chain is not None and chain.running:
            running = chain.poll() or running
    install, check = _Tasks.install, _Tasks.check
    if install is not None and not install.running and not _Tasks.install_result:
        _Tasks.install_result = _summarise_install(install)
    if check is not None and not check.running and not _Tasks.check_result:
        _Tasks.check_result = _summarise_check(check)
    news = tuple(chain.news if chain is not None else None for chain in (_Tasks.install, _Tasks.check, _Tasks.official))
    if news != _Tasks.shown:  # a redraw only when there is something new to show
        _Tasks.shown = news
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
            python = worker_python(context)
        except InterMaskError as exc:
            _Tasks.check_result = str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        _Tasks.check_result = ""
        _Tasks.check = deps.CommandChain([[str(python), "-c", deps.CHECK_SCRIPT]], user_dir() / "check.log").start()
        _start_polling()
        return {"FINISHED"}


def import_command(python: Path, release: str, clip: str, stats: str, name: str, transformer: str) -> list[str]:
    """``intermask models import-official`` run by the worker's Python (the add-on's Python has no torch)."""
    return [str(python), "-m", "vendor_models", "models", "import-official", release, "--clip", clip,
            "--stats", stats, "--name", name, "--trans", transformer]


class INTERMASK_OT_import_official(bpy.types.Operator):
    """Convert the official InterMask release you downloaded into a model (non-commercial; runs in the background)"""

    bl_idname = "intermask.import_official"
    bl_label = "Import Official Model"

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = get(context)
        if prefs is None:
            self.report({"ERROR"}, "Enable the InterMask add-on first")
            return {"CANCELLED"}
        if _Tasks.official is not None and _Tasks.official.running:
            self.report({"WARNING"}, "An import is already running")
            return {"CANCELLED"}
        release, clip, stats = (bpy.path.abspath(p) for p in (prefs.import_release, prefs.import_clip, prefs.import_stats))
        problems = [f"{label} not found: {path or '(empty)'}" for label, path, found in (
            ("release folder", release, Path(release).is_dir()), ("CLIP file", clip, Path(clip).is_file()),
            ("statistics folder", stats, Path(stats).is_dir())) if not (path and found)]
        try:
            model_store.free_folder(prefs.import_name)
            python = worker_python(context)
        except (model_store.ModelStoreError, deps.WorkerPythonError) as exc:
            problems.append(str(exc))
        if problems:
            self.report({"ERROR"}, "; ".join(problems))
            return {"CANCELLED"}
        command = import_command(python, release, clip, stats, prefs.import_name, prefs.import_transformer)
        env = worker_launch.worker_environment()
        _Tasks.official = deps.CommandChain([command], user_dir() / "import_official.log", env=env).start()
        _start_polling()
        self.report({"INFO"}, f"Importing the official model as '{prefs.import_name}'; progress below")
        return {"FINISHED"}


def _draw_import(layout: bpy.types.UILayout, prefs: "IM_Preferences") -> None:
    box = layout.box()
    box.label(text="Official InterMask model (download it yourself; non-commercial use only)", icon="IMPORT")
    for name in ("import_release", "import_clip", "import_stats", "import_name", "import_transformer"):
        box.prop(prefs, name)
    box.operator(INTERMASK_OT_import_official.bl_idname, icon="IMPORT")
    task = _Tasks.official
    if task is not None:
        state = "running" if task.running else ("done" if task.returncode == 0 else "failed")
        box.label(text=f"Import {state}", icon="TIME" if task.running else "CHECKMARK" if state == "done" else "ERROR")
        for line in task.tail(5):
            box.label(text=line[-120:])


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
        default="auto", update=forget_check,
    )
    python_path: bpy.props.StringProperty(name="Interpreter", subtype="FILE_PATH", update=forget_check)  # type: ignore[valid-type]
    device: bpy.props.EnumProperty(name="Device", items=DEVICES, default="auto", update=forget_check)  # type: ignore[valid-type]
    checkpoint: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Checkpoint", subtype="DIR_PATH",
        description="A model folder by path, used while the Model is Built-in (empty: the built-in model)",
    )
    model: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Model", items=model_choice.model_items, update=forget_check,
        description="The built-in model or one imported into your models folder",
    )
    import_release: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Release Folder", subtype="DIR_PATH", description="The downloaded release: the folder that holds checkpoints/",
    )
    import_clip: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="CLIP File", subtype="FILE_PATH", description="OpenAI's CLIP ViT-L/14@336px, ViT-L-14-336px.pt",
    )
    import_stats: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Statistics Folder", subtype="DIR_PATH", description="The folder with global_mean.npy and global_std.npy",
    )
    import_name: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Model Name", default="intermask-official", description="Name of the model in your models folder",
    )
    import_transformer: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Transformer", default="trans_default",
        description="Which folder under checkpoints/interhuman holds the transformer (the release's is trans_default)",
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
        model_choice.draw_choice(layout, self)
        layout.prop(self, "checkpoint")
        layout.label(text=f"Models folder: {model_store.models_dir()}")
        _draw_import(layout, self)
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


CLASSES = (INTERMASK_OT_install_dependencies, INTERMASK_OT_check_worker, INTERMASK_OT_import_official, IM_Preferences)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for chain in (_Tasks.install, _Tasks.check, _Tasks.official):
        if chain is not None and chain.running:
            chain.cancel()
    if bpy.app.timers.is_registered(_poll_tasks):
        bpy.app.timers.unregister(_poll_tasks)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
