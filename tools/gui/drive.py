"""Run by the GUI Blender (``--python``): press the InterMask panel's buttons the way an animator does,
through ``bpy.app.timers`` so Blender's real event loop (redraws, timers, the worker's polling) runs.

generate → progress → preview → apply → react on the baked armature → apply → cancel → unload → quit.
Each job starts once the 3D view has settled after the step before it (see ``SETTLED_AFTER``), so its
main-loop gaps are its own. After each stage the panel's status line (``scene.intermask.status``, what
the sidebar draws) is checked and a screenshot is taken. ``result.json`` in ``INTERMASK_GUI_OUT`` tells the runner what happened: the
stages, the statuses, any failure, the worker's process id and the main-loop gaps with their parts.
"""

# bpy's stubs type every context member as Optional and the add-on's settings as a bare PropertyGroup:
# mypy: disable-error-code="union-attr,attr-defined,assignment"

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import bpy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blender_timing import Meter

OUT = Path(os.environ["INTERMASK_GUI_OUT"])
WORKER_PYTHON = os.environ["INTERMASK_GUI_WORKER"]
STAGE_TIMEOUT = 90.0
#: The 3D view has settled when it has not redrawn for this long. Any change to what it shows (the view,
#: a bake, a selection) is followed by one redraw per viewport anti-aliasing sample (8 by default, each
#: 1-2 s with software GL under load): a job started within that would be charged the previous step's redraws.
SETTLED_AFTER = 1.5
SETTLE_TIMEOUT = 40.0
STAGES = ["generate", "preview", "apply", "react", "react apply", "cancel", "unload"]
Steps = Iterator[float]


class DriveError(AssertionError):
    """The panel did not do what the stage expects; the message says what was seen."""


def addon_module(name: str) -> ModuleType:
    """A module of the installed extension (``bl_ext.<repo>.intermask_blender.<name>``)."""
    for key in list(sys.modules):
        if key.startswith("bl_ext.") and key.endswith(".intermask_blender." + name):
            return sys.modules[key]
    raise DriveError(f"the extension's module '{name}' is not loaded: is the add-on enabled?")


class Drive:
    def __init__(self) -> None:
        self.job = addon_module("client.job")
        self.meter = Meter(self.job.busy)
        self.statuses: dict[str, list[str]] = {}
        self.status_times: list[tuple[float, str]] = []  #: when the drive first saw each status (to match gaps)
        self.shots: list[str] = []
        self.worker_pids: set[int] = set()
        self.failure = ""
        self.shot_number = 0

    # the window -------------------------------------------------------------------------------------
    def view3d(self) -> tuple[bpy.types.Window, bpy.types.Area, bpy.types.Region]:
        for window in bpy.context.window_manager.windows:
            for area in window.screen.areas:
                if area.type == "VIEW_3D":
                    region = next(r for r in area.regions if r.type == "WINDOW")
                    return window, area, region
        raise DriveError("no 3D view in the start file")

    @property
    def settings(self) -> bpy.types.PropertyGroup:
        return bpy.context.scene.intermask

    def press(self, operator: str, **props: object) -> set[str]:
        """Call ``bpy.ops.intermask.<operator>`` in the 3D view, timed as the add-on's work."""
        window, area, region = self.view3d()
        func = getattr(bpy.ops.intermask, operator)
        with bpy.context.temp_override(window=window, area=area, region=region):
            return self.meter.timed("add-on operator", func)(**props)

    def screenshot(self, name: str, settle: float = 0.4) -> Steps:
        """Let the window redraw, then grab the X screen (``screen.screenshot`` is black under Xvfb)."""
        yield settle
        self.shot_number += 1
        path = OUT / f"{self.shot_number:02d}_{name}.png"
        grab = f"xwd -root -silent -display {os.environ['DISPLAY']} | convert xwd:- png:{path}"
        done = subprocess.run(grab, shell=True, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not path.is_file():
            raise DriveError(f"screenshot {name} failed: {done.stderr.strip()}")
        self.shots.append(path.name)
        self.meter.skip()

    # waiting and checking -----------------------------------------------------------------------------
    def note_status(self, stage: str) -> None:
        seen = self.statuses.setdefault(stage, [])
        status = self.settings.status
        if not seen or seen[-1] != status:
            seen.append(status)
            self.status_times.append((round(time.perf_counter() - self.meter.origin, 3), status))
        client = self.job._State.client
        if client is not None and client.pid is not None:
            self.worker_pids.add(client.pid)

    def wait(self, stage: str, done: Callable[[], bool], what: str) -> Steps:
        began = time.perf_counter()
        while not done():
            self.note_status(stage)
            if time.perf_counter() - began > STAGE_TIMEOUT:
                raise DriveError(f"{stage}: gave up after {STAGE_TIMEOUT:.0f} s waiting for {what}; "
                                 f"statuses seen: {self.statuses.get(stage)}")
            yield 0.05
        self.note_status(stage)

    def settle(self, stage: str) -> Steps:
        """Wait until the 3D view has stopped redrawing after the previous step, as an animator looks at
        the scene before pressing the next button."""
        began = time.perf_counter()
        while time.perf_counter() - max(self.meter.last_viewport_redraw, began) < SETTLED_AFTER:
            if time.perf_counter() - began > SETTLE_TIMEOUT:
                raise DriveError(f"{stage}: the 3D view kept redrawing for {SETTLE_TIMEOUT:.0f} s before the job")
            yield 0.1

    def expect(self, stage: str, pattern: str) -> None:
        status, error = self.settings.status, self.settings.status_is_error
        if error or not re.search(pattern, status):
            raise DriveError(f"{stage}: status {status!r} (error={error}) does not match {pattern!r}")

    def run_job(self, stage: str, final: str, *, cancel: bool = False) -> Steps:
        """Press Generate, watch the progress bar move (screenshot while it does), optionally press Cancel
        once the sampler reports progress, and wait for the job to end with ``final`` as the status."""
        self.meter.stage = stage
        yield from self.settle(stage)
        self.settings.status = ""
        if self.press("generate") != {"FINISHED"}:
            raise DriveError(f"{stage}: Generate was refused: {self.settings.status!r}")
        progress = re.compile(r"\d+/\d+")
        yield from self.wait(stage, lambda: bool(progress.search(self.settings.status)) or not self.job.busy(),
                             "a progress line")
        if not self.job.busy():
            raise DriveError(f"{stage}: the job ended before any progress was shown: {self.statuses[stage]}")
        if not 0.0 < self.settings.progress <= 1.0:
            raise DriveError(f"{stage}: progress bar at {self.settings.progress} during '{self.settings.status}'")
        yield from self.screenshot(f"{stage}_progress", settle=0.15)
        if cancel:
            self.press("cancel")
        yield from self.wait(stage, lambda: not self.job.busy(), "the job to end")
        yield 1.0  # a late progress line from the worker must not overwrite the final status
        self.note_status(stage)
        self.expect(stage, final)

    # the stages ---------------------------------------------------------------------------------------
    def setup(self) -> Steps:
        addon = next(a for a in bpy.context.preferences.addons if a.module.endswith("intermask_blender"))
        addon.preferences.python_mode = "custom"
        addon.preferences.python_path = WORKER_PYTHON
        area = self.view3d()[1]
        area.spaces.active.show_region_ui = True
        view = area.spaces.active.region_3d  # close enough to see the people, not the whole grid
        view.view_distance, view.view_location = 6.0, (0.0, 0.0, 0.9)
        yield 0.3
        sidebar = next(r for r in area.regions if r.type == "UI")
        sidebar.active_panel_category = "InterMask"
        self.settings.variations = 2
        self.settings.seconds = 6.0
        self.meter.watch_redraws()
        self.meter.start()
        yield from self.screenshot("start")

    def stages(self) -> Steps:
        yield from self.setup()
        yield from self.run_job("generate", r"^2 variations ready\b")
        yield from self.screenshot("generated")

        self.meter.stage = "preview"
        self.settings.variation = 2
        self.press("preview")
        self.expect("preview", r"^Preview")
        collection = addon_module("baking.preview_figures").COLLECTION
        if collection not in bpy.data.collections:
            raise DriveError(f"preview: no '{collection}' collection was made")
        yield from self.screenshot("preview")

        self.meter.stage = "apply"
        self.press("apply")
        self.expect("apply", r"^Applied variation 2\b")
        people = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
        animated = [o for o in people if o.animation_data is not None and o.animation_data.action is not None]
        if len(animated) != 2:
            raise DriveError(f"apply: {len(animated)} animated armatures after Apply ({[o.name for o in people]})")
        yield from self.screenshot("applied")

        partner = self.settings.armature_a
        for obj in bpy.context.scene.objects:
            obj.select_set(obj == partner)
        bpy.context.view_layer.objects.active = partner
        self.settings.mode = "REACT"
        self.settings.seed = 7
        yield from self.run_job("react", r"^2 variations ready\b")
        yield from self.screenshot("react_ready")
        self.meter.stage = "react apply"
        self.press("apply")
        self.expect("react apply", r"^Applied variation 1\b")
        yield from self.screenshot("react_applied")

        self.settings.mode = "GENERATE"
        self.settings.seconds = 10.0
        self.settings.variations = 8
        yield from self.run_job("cancel", r"^Cancelled", cancel=True)
        yield from self.screenshot("cancelled")

        self.meter.stage = "unload"
        self.press("unload")
        self.expect("unload", r"unloaded")
        yield from self.screenshot("unloaded")

    # running ------------------------------------------------------------------------------------------
    def write_result(self) -> None:
        result = {
            "failure": self.failure, "statuses": self.statuses, "status_times": self.status_times,
            "shots": self.shots,
            "worker_pids": sorted(self.worker_pids), "blender": bpy.app.version_string,
            "longest_addon_callback_ms": round(self.meter.longest_callback * 1000, 2),
            "addon_tick_stats": vars(self.job.stats()),
            "frame_changes": self.meter.frame_changes,
            "job_viewport_redraws": self.meter.job_redraws,
            "largest_job_gap_ms": {s: round(g.seconds * 1000, 1) for s in STAGES
                                   if (g := self.meter.largest(s, busy=True)) is not None},
            "gap_report": self.meter.report(STAGES),
            "gaps": [{"stage": g.stage, "busy": g.busy, "at": round(g.began - self.meter.origin, 3),
                      "ms": round(g.seconds * 1000, 1), "parts_ms": {k: round(v * 1000, 1) for k, v in g.parts.items()}}
                     for g in self.meter.gaps if g.seconds > 0.05],
        }
        (OUT / "result.json").write_text(json.dumps(result, indent=2, default=str))

    def timed_addon(self) -> None:
        """Wrap the add-on's timer callback and panel draws so their time shows in the gaps' parts."""
        self.job.tick = self.meter.timed("addon timer", self.job.tick)
        panel = addon_module("ui.panel")
        for cls in panel.CLASSES:
            cls.draw = self.meter.timed_draw(cls.draw)

    def main(self) -> None:
        self.timed_addon()
        steps = self.stages()

        def advance() -> float | None:
            try:
                return next(steps)
            except StopIteration:
                pass
            except Exception:  # noqa: BLE001  every failure ends the run with its reason written down
                self.failure = traceback.format_exc()
                print("InterMask GUI drive failed:\n" + self.failure, flush=True)
            self.meter.close()
            self.write_result()
            bpy.app.timers.register(quit_blender, first_interval=0.2)
            return None

        bpy.app.timers.register(advance, first_interval=1.0)


def quit_blender() -> None:
    window = bpy.context.window_manager.windows[0]
    with bpy.context.temp_override(window=window):
        bpy.ops.wm.quit_blender()


Drive().main()
