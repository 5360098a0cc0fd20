"""``tools/dev.py gui``: install the built extension into the trixie root's Blender 4.3 and drive its panel
under Xvfb; fail on a traceback, a wrong status line or a process left alive.

The project, the worker's venv and its base Python are bind-mounted read-only at their own paths, so the
project's ``.venv/bin/python`` runs inside as the worker. Each run gets a fresh folder in the root's /tmp
(a clean HOME and TMPDIR, the zip, the start file, the screenshots); the screenshots are copied to
``out/gui/``. A job folder (``intermask_*``) left in that TMPDIR after quit fails the run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .mounts import MountSet, refuse_if_mounted, remove_root, signals_unwind
from .rootfs import RootError, chroot_command, default_root, ensure_root, system_mounts

HERE = Path(__file__).resolve().parent
BLENDER_TIMEOUT = 480
#: Jobs that change nothing in the scene: the 3D view must not redraw while they run. (React's reading of
#: its partner links it into a temporary scene and back, and each such change is followed by one viewport
#: redraw per anti-aliasing sample, so React is not held to this.)
NO_VIEWPORT_REDRAW_STAGES = ("generate", "cancel")
SCREEN = (1600, 1000)
#: The start file: the default scene without its cube, saved so Blender opens it (and skips the splash).
START_SCRIPT = ("import bpy, sys; cube = bpy.data.objects.get('Cube'); cube and bpy.data.objects.remove(cube); "
                "bpy.ops.wm.save_as_mainfile(filepath=sys.argv[-1])")


class GuiRunError(RuntimeError):
    """The GUI run failed; the message lists every reason."""


@dataclass
class Outcome:
    problems: list[str] = field(default_factory=list)
    report: list[str] = field(default_factory=list)


def python_folders(python: Path, project: Path) -> list[Path]:
    """What the worker's Python needs visible inside the root besides the project: its venv when that
    lies elsewhere (a link) and the interpreter it was made from (pyenv's version folder)."""
    done = subprocess.run([str(python), "-c", "import sys; print(sys.prefix); print(sys.base_prefix)"],
                          capture_output=True, text=True, check=True)
    prefix, base = (Path(line).resolve() for line in done.stdout.split())
    folders: list[Path] = []
    for folder in (prefix, base):
        if folder.is_relative_to(project.resolve()) or any(folder.is_relative_to(f) for f in folders):
            continue
        if folder.parts[1:2] in (("usr",), ("bin",), ("lib",), ("etc",)) or folder == Path("/"):
            raise GuiRunError(f"the worker's Python lives in {folder}, a system folder that cannot be mounted "
                              "into the root; use a venv made from a pyenv (or other non-system) Python")
        folders.append(folder)
    return folders


def processes_in(root: Path) -> list[int]:
    """Processes whose root directory is ``root`` (everything started in the chroot, however detached)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "root")) == root:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _blender(root: Path, home: Path, *args: str, env: dict[str, str] | None = None,
             timeout: int = 120) -> subprocess.CompletedProcess[str]:
    inner = {"HOME": str(home), "TMPDIR": str(home.parent / "tmp"), **(env or {})}
    cmd = chroot_command(root, "timeout", str(timeout), *args, env=inner)
    print("+", " ".join(args), flush=True)
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False)


def _check_output(name: str, done: subprocess.CompletedProcess[str], outcome: Outcome) -> None:
    text = done.stdout + done.stderr
    if done.returncode != 0:
        outcome.problems.append(f"{name} exited with {done.returncode}")
    if "Traceback (most recent call last)" in text:
        outcome.problems.append(f"{name} printed a traceback")
    if done.returncode != 0 or "Traceback" in text:
        print(f"--- {name} output ---\n{text[-6000:]}", flush=True)


def drive_blender(root: Path, run_dir: Path, zip_path: Path, worker: Path, outcome: Outcome) -> dict[str, Any]:
    """Start file, install, then the driven GUI session; returns the drive's result.json."""
    inside = Path("/") / run_dir.relative_to(root)
    home, out = inside / "home", inside / "out"
    for folder in ("home", "out", "tmp"):
        (run_dir / folder).mkdir()
    start = inside / "start.blend"
    made = _blender(root, home, "blender", "-b", "--factory-startup", "--python-expr", START_SCRIPT, "--", str(start))
    _check_output("writing the start file", made, outcome)
    installed = _blender(root, home, "blender", "--command", "extension", "install-file", "-r", "user_default",
                         "-e", str(inside / zip_path.name))
    _check_output("installing the extension", installed, outcome)
    if outcome.problems:
        return {}
    width, height = SCREEN
    env = {"INTERMASK_GUI_OUT": str(out), "INTERMASK_GUI_WORKER": str(worker)}
    began = time.perf_counter()
    session = _blender(root, home, "xvfb-run", "-a", "-s", f"-screen 0 {width}x{height}x24", "blender",
                       "-p", "0", "0", str(width), str(height), str(start), "--python", str(HERE / "drive.py"),
                       env=env, timeout=BLENDER_TIMEOUT)
    print(f"GUI session: {time.perf_counter() - began:.0f} s", flush=True)
    _check_output("the GUI session", session, outcome)
    result_file = run_dir / "out" / "result.json"
    if not result_file.is_file():
        outcome.problems.append("the drive script wrote no result.json (Blender did not get through the run)")
        return {}
    left = sorted(path.name for path in (run_dir / "tmp").glob("intermask_*"))
    if left:  # Blender disables every add-on before Python's atexit runs, so that is too late a hook
        outcome.problems.append(f"job folders left in TMPDIR after quit: {', '.join(left)}")
    result: dict[str, Any] = json.loads(result_file.read_text())
    if result.get("failure"):
        outcome.problems.append(f"the drive failed: {str(result['failure']).strip().splitlines()[-1]}")
    redraws = dict(result.get("job_viewport_redraws", {}))
    for stage in NO_VIEWPORT_REDRAW_STAGES:
        if redraws.get(stage):
            outcome.problems.append(f"{stage}: the 3D view redrew {redraws[stage]}× during a job that changes "
                                    "nothing in the scene (a 1-2 s pause each with software GL)")
    return result


def _stop_left_processes(root: Path, outcome: Outcome, worker_pids: list[int]) -> None:
    """A worker or anything else started in the root that outlived Blender is a failure; it is then
    stopped (by its id) so the mounts can go."""
    time.sleep(1.0)
    alive = [pid for pid in worker_pids if Path(f"/proc/{pid}").exists()]
    if alive:
        outcome.problems.append(f"the worker outlived Blender: process {alive}")
    left = processes_in(root)
    if left:
        outcome.problems.append(f"processes left running in the root after quit: {left}")
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


def copy_shots(run_dir: Path, result: dict[str, Any], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.png"):
        old.unlink()
    copied = []
    for name in result.get("shots", []) or []:
        target = dest / str(name)
        shutil.copyfile(run_dir / "out" / str(name), target)
        copied.append(target)
    shutil.copyfile(run_dir / "out" / "result.json", dest / "result.json")
    return copied


def summarise(result: dict[str, Any], shots: list[Path], outcome: Outcome) -> None:
    outcome.report.append(f"Blender {result.get('blender')}: statuses seen per stage:")
    for stage, seen in dict(result.get("statuses", {})).items():
        outcome.report.append(f"  {stage}: {' | '.join(seen)}")
    outcome.report.append("Main-loop gaps (10 ms timer), largest per stage, and what they were made of:")
    outcome.report.extend(result.get("gap_report", []))
    outcome.report.append(f"Add-on's longest timer callback: {result.get('longest_addon_callback_ms')} ms; "
                          f"frame changes seen: {result.get('frame_changes')}")
    outcome.report.append("Screenshots: " + ", ".join(str(p) for p in shots))


def run_gui(project: Path, python: Path, root: Path | None = None) -> Outcome:
    """The whole GUI run; never raises for a failed check (they are in ``Outcome.problems``)."""
    root = (root or default_root()).resolve()
    outcome = Outcome()
    if os.geteuid() != 0:
        outcome.problems.append("the GUI run needs root (chroot and mount); run it as root")
        return outcome
    try:
        refuse_if_mounted(root)
        ensure_root(root)
    except (RootError, OSError, RuntimeError) as exc:
        outcome.problems.append(f"no GUI root, so no GUI test: {exc}")
        return outcome
    run_dir = Path(tempfile.mkdtemp(prefix="intermask-gui-", dir=root / "tmp"))
    result: dict[str, Any] = {}
    try:
        built = subprocess.run([str(python), str(project / "build.py"), "--out-dir", str(run_dir)],
                               capture_output=True, text=True, check=False)
        if built.returncode != 0:
            raise GuiRunError(f"build.py failed:\n{built.stdout}{built.stderr}")
        (zip_path,) = run_dir.glob("intermask_blender-*.zip")
        with signals_unwind(), MountSet(root) as mounts:
            system_mounts(mounts)
            for folder in [project, *python_folders(python, project)]:
                mounts.bind_read_only(folder)
            try:
                result = drive_blender(root, run_dir, zip_path, python, outcome)
            finally:
                _stop_left_processes(root, outcome, list(result.get("worker_pids", [])))
        if result:
            summarise(result, copy_shots(run_dir, result, project / "out" / "gui"), outcome)
    except GuiRunError as exc:
        outcome.problems.append(str(exc))
    finally:
        remove_root(run_dir)
    return outcome


def main(project: Path, python: Path) -> int:
    outcome = run_gui(project, python)
    print("\n".join(outcome.report), flush=True)
    if outcome.problems:
        print("GUI run FAILED:\n  " + "\n  ".join(outcome.problems), file=sys.stderr, flush=True)
        return 1
    print("GUI run passed", flush=True)
    return 0
