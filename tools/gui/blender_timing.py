"""Inside the GUI Blender: how long the main loop pauses, and what each pause is made of.

A 10 ms timer of its own sees every pause of Blender's event loop as the time between two of its calls.
What happened in between is known from spans recorded by wrappers and handlers: the add-on's timer
callbacks and panel ``draw`` functions, the operators the drive script presses, viewport redraws (a
``PRE_VIEW``…``POST_PIXEL`` draw-handler pair on the 3D view's main region), depsgraph updates and frame
changes. Whatever no span covers is "other": Blender's own work that Python cannot see, such as the
sidebar's drawing beyond our panels' Python (Blender 4.3 calls no draw handler on the sidebar region:
measured), the window's compositing and swap, and event handling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

import bpy

INTERVAL = 0.01
#: Top-level kinds add up (they never nest in one another); the nested ones run inside them (the panel's
#: Python draw inside the sidebar redraw, a frame change inside an operator) and are shown, not added.
KINDS = ("addon timer", "add-on operator", "viewport redraw")
NESTED = ("panel draw (python)", "depsgraph update", "frame change")
#: Redraws of the outliner, properties and timeline, counted (not timed): a gap where they redraw
#: together with the viewport was a whole-window redraw, not the 3D view's own.
OTHER_EDITORS = "other editors redrawn"


@dataclass
class Gap:
    began: float
    ended: float
    stage: str
    busy: bool
    parts: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.ended - self.began

    def describe(self) -> str:
        shown = [f"{kind} {seconds * 1000:.0f}" + (f" ({self.counts[kind]}×)" if self.counts.get(kind, 1) > 1 else "")
                 for kind, seconds in self.parts.items() if seconds >= 0.001]
        if self.counts.get(OTHER_EDITORS):
            shown.append(f"{OTHER_EDITORS} {self.counts[OTHER_EDITORS]}×")
        return f"{self.seconds * 1000:.0f} ms = " + (", ".join(shown) or "nothing measured")


class Meter:
    """The gap timer plus the spans that explain the gaps. ``stage`` and ``busy`` are set by the drive."""

    def __init__(self, busy: Callable[[], bool]) -> None:
        self.busy = busy
        self.stage = "start"
        self.spans: list[tuple[str, float, float]] = []
        self.gaps: list[Gap] = []
        self.longest_callback = 0.0
        self.frame_changes = 0
        self.job_redraws: dict[str, int] = {}  #: viewport redraws per stage while a job runs
        self.last_viewport_redraw = 0.0  #: when the 3D view last finished drawing (perf_counter)
        self._last = self.origin = time.perf_counter()
        self._open: dict[str, float] = {}
        self._handles: list[tuple[Any, Any, str]] = []

    # spans -------------------------------------------------------------------------------------------
    def record(self, kind: str, began: float, ended: float) -> None:
        self.spans.append((kind, began, ended))

    def timed(self, kind: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` wrapped so each call is a span of ``kind``."""

        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                ended = time.perf_counter()
                self.record(kind, began, ended)
                if kind == "addon timer":
                    self.longest_callback = max(self.longest_callback, ended - began)

        return wrapper

    def timed_draw(self, func: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        """A panel's ``draw`` wrapped as a "panel draw (python)" span. Blender passes a method only as many
        arguments as its code names, so the wrapper must name ``self`` and ``context`` (``*args`` gets none)."""

        def draw(panel: Any, context: Any) -> None:
            began = time.perf_counter()
            try:
                func(panel, context)
            finally:
                self.record("panel draw (python)", began, time.perf_counter())

        return draw

    def _mark(self, kind: str) -> Callable[..., None]:
        """A moment, not a span: counted in the gap it falls in."""
        def marked(*_args: Any) -> None:
            now = time.perf_counter()
            self.record(kind, now, now)
        return marked

    def _opener(self, kind: str) -> Callable[..., None]:
        def opened(*_args: Any) -> None:
            self._open[kind] = time.perf_counter()
        return opened

    def _closer(self, kind: str) -> Callable[..., None]:
        def closed(*_args: Any) -> None:
            began = self._open.pop(kind, None)
            if began is not None:
                self.record(kind, began, time.perf_counter())
            if kind == "frame change":
                self.frame_changes += 1
            if kind == "viewport redraw":
                self.last_viewport_redraw = time.perf_counter()
                if self.busy():
                    self.job_redraws[self.stage] = self.job_redraws.get(self.stage, 0) + 1
        return closed

    def watch_redraws(self) -> None:
        """Draw handlers around the 3D view's main region, and update/frame handlers."""
        space = bpy.types.SpaceView3D
        kind = "viewport redraw"
        first = space.draw_handler_add(self._opener(kind), (), "WINDOW", "PRE_VIEW")
        last = space.draw_handler_add(self._closer(kind), (), "WINDOW", "POST_PIXEL")
        self._handles += [(space, first, "WINDOW"), (space, last, "WINDOW")]
        for other in (bpy.types.SpaceOutliner, bpy.types.SpaceProperties, bpy.types.SpaceDopeSheetEditor):
            handle = other.draw_handler_add(self._mark(OTHER_EDITORS), (), "WINDOW", "POST_PIXEL")
            self._handles.append((other, handle, "WINDOW"))
        handlers = bpy.app.handlers
        for pre, post, kind in ((handlers.depsgraph_update_pre, handlers.depsgraph_update_post, "depsgraph update"),
                                (handlers.frame_change_pre, handlers.frame_change_post, "frame change")):
            pre.append(bpy.app.handlers.persistent(self._opener(kind)))
            post.append(bpy.app.handlers.persistent(self._closer(kind)))

    # the gap timer -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._last = time.perf_counter()
        bpy.app.timers.register(self._tick, first_interval=INTERVAL, persistent=True)

    def skip(self) -> None:
        """Forget the pause so far: the drive's own screenshot is not the add-on's pause."""
        self._last = time.perf_counter()

    def _tick(self) -> float:
        now = time.perf_counter()
        if now - self._last > 2 * INTERVAL:
            self.gaps.append(self._explain(Gap(self._last, now, self.stage, self.busy())))
        self._last = now
        self.spans = [span for span in self.spans if span[2] > now - 5.0]
        return INTERVAL

    def _explain(self, gap: Gap) -> Gap:
        for kind, began, ended in self.spans:
            overlap = min(ended, gap.ended) - max(began, gap.began)
            if overlap > 0 or (began == ended and gap.began <= began <= gap.ended):
                gap.parts[kind] = gap.parts.get(kind, 0.0) + overlap
                gap.counts[kind] = gap.counts.get(kind, 0) + 1
        measured = sum(gap.parts.get(kind, 0.0) for kind in KINDS)
        gap.parts["other"] = max(0.0, gap.seconds - measured)
        return gap

    # results ---------------------------------------------------------------------------------------------
    def largest(self, stage: str, *, busy: bool | None = None) -> Gap | None:
        found = [g for g in self.gaps if g.stage == stage and (busy is None or g.busy == busy)]
        return max(found, key=lambda g: g.seconds, default=None)

    def report(self, stages: list[str], threshold: float = 0.1) -> list[str]:
        """One line per stage with its largest gap during a job and what it was made of, then the sum of
        the parts over every gap above ``threshold`` during jobs."""
        lines = []
        for stage in stages:
            busy_gap, idle_gap = self.largest(stage, busy=True), self.largest(stage, busy=False)
            if busy_gap is not None:
                lines.append(f"  {stage}: largest gap during the job {busy_gap.describe()}; "
                             f"{self.job_redraws.get(stage, 0)} viewport redraws during the job")
            if idle_gap is not None:
                lines.append(f"  {stage}: largest gap outside a job {idle_gap.describe()}")
        slow = [g for g in self.gaps if g.busy and g.seconds > threshold]
        totals: dict[str, float] = {}
        for gap in slow:
            for kind, seconds in gap.parts.items():
                totals[kind] = totals.get(kind, 0.0) + seconds
        made_of = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in sorted(totals.items(), key=lambda kv: -kv[1])
                            if v >= 0.001)
        others = sum(gap.counts.get(OTHER_EDITORS, 0) for gap in slow)
        made_of += f"; the outliner, properties or timeline redrew {others}× in them"
        lines.append(f"  {len(slow)} gaps over {threshold * 1000:.0f} ms during jobs, together: {made_of or '-'}")
        return lines

    def close(self) -> None:
        if bpy.app.timers.is_registered(self._tick):
            bpy.app.timers.unregister(self._tick)
        for space, handle, region in self._handles:
            space.draw_handler_remove(handle, region)
        self._handles.clear()
