"""What the sidebar shows, in real headless Blender: every message fits the sidebar's default width as a
short status with the whole text one click (or a hover) away; the Text row has a label; an old result
cannot be previewed or applied while a new job runs; Check's answer leaves when what it checked changes;
Preview switches edit mode once, not once per figure.

Panels are not drawn headless, so the main panel's ``draw`` runs on a layout that records what it is asked
to show (the real panel code, the real scene settings and operators).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import bpy  # first: it puts Blender's own modules on the path
import pytest
from test_addon import finished_job, prefs, salsa_variations, scene  # noqa: F401  (fixtures)

from intermask_blender.client import deps, job
from intermask_blender.ui import panel, preferences, status_line

REPO = Path(__file__).resolve().parents[1]
#: Where the messages a panel can show are written: the add-on, and the worker whose errors it shows.
MESSAGE_SOURCES = [REPO / "intermask_blender", REPO / "vendor_models" / "worker", REPO / "vendor_models" / "generation",
                   REPO / "vendor_models" / "motion"]
#: A long real-looking value for each placeholder of an f-string message.
PLACEHOLDER = "/home/animator/projects/salsa_scene/rigs/character_final_v2"


def _text(node: ast.expr) -> str | None:
    """A message literal as the user would see it, its placeholders filled with a long path."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(part.value) if isinstance(part, ast.Constant) else PLACEHOLDER for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return left + right if left is not None and right is not None else None
    return None


def panel_messages() -> list[str]:
    """Every error message raised and every status line written in the sources the panel shows."""
    found: list[str] = []
    for folder in MESSAGE_SOURCES:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                    found += [t for arg in node.exc.args if (t := _text(arg)) and " " in t]
                elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == "status"
                                                          for t in node.targets):
                    value = node.value.body if isinstance(node.value, ast.IfExp) else node.value
                    found += [t for t in (_text(value),) if t]
    return found


def test_every_message_has_a_short_form_that_fits_and_the_whole_text_is_reachable() -> None:
    messages = panel_messages()
    assert len(messages) > 80, "the scan found too few messages to mean anything"
    assert any(len(m) > 2 * status_line.SIDEBAR_CHARS for m in messages)
    for message in messages:
        whole = " ".join(message.split())
        short = status_line.short_form(message)
        assert len(short) <= status_line.SIDEBAR_CHARS, short
        if short != whole:
            kept = short.removesuffix(status_line.ELLIPSIS)
            assert short.endswith(status_line.ELLIPSIS) and whole.startswith(kept), (short, whole)
            word_cut = whole[len(kept)] not in " .,:;(—"
            assert not word_cut or " " not in kept, f"cut inside a word: {short!r} of {whole!r}"
        lines = status_line.popup_lines(message)  # every character kept; only a too-long word is broken
        assert all(len(line) <= status_line.POPUP_CHARS for line in lines)
        assert "".join(lines).replace(" ", "") == whole.replace(" ", "")
        props = SimpleNamespace(message=message)
        assert status_line.INTERMASK_OT_show_message.description(bpy.context, props) == message


def test_the_new_user_message_keeps_its_first_words() -> None:
    with pytest.raises(deps.WorkerPythonError) as caught:
        deps.resolve_worker_python("custom", "")
    assert status_line.short_form(str(caught.value)) == "worker Python not found…"
    no_torch = ("no Python with PyTorch found: press 'Install dependencies' in the add-on preferences "
                "or choose an interpreter that has torch")
    assert status_line.short_form(no_torch) == "no Python with PyTorch found…"


def test_the_message_button_without_a_window_reports_the_whole_text() -> None:
    """Run from a script or background Blender there is no window to pop up in (popup_menu crashed there)."""
    script = ("import bpy, addon_utils; addon_utils.enable('intermask_blender', default_set=True); "
              "print('RESULT', bpy.ops.intermask.show_message(message='no Python with PyTorch found: press it'))")
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "RESULT {'FINISHED'}" in done.stdout, done.stdout + done.stderr
    assert "no Python with PyTorch found: press it" in done.stdout + done.stderr


class Recorder:
    """A stand-in for ``UILayout`` that records each item the panel adds, with the layout's state."""

    def __init__(self, log: list[dict[str, Any]], enabled: bool = True) -> None:
        self.__dict__.update(log=log, enabled=enabled, alert=False, active=True, scale_y=1.0)

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value

    def _child(self, *_args: Any, **_kwargs: Any) -> Recorder:
        return Recorder(self.log, self.enabled)

    column = row = box = split = _child

    def __getattr__(self, kind: str) -> Any:
        def add(*args: Any, **kwargs: Any) -> SimpleNamespace:
            item = SimpleNamespace()
            self.log.append({"kind": kind, "args": args, **kwargs, "enabled": self.enabled, "alert": self.alert,
                             "item": item})
            return item
        return add


def drawn(context: bpy.types.Context) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = []
    layout = Recorder(log)
    panel.IM_PT_main.draw(SimpleNamespace(layout=layout), context)
    return log


def test_a_long_status_is_short_in_the_sidebar_with_the_whole_text_behind_the_info_button(scene) -> None:  # noqa: F811
    settings = scene.intermask
    settings.status = ("no Python with PyTorch found: press 'Install dependencies' in the add-on preferences "
                       "or choose an interpreter that has torch")
    settings.status_is_error = True
    log = drawn(bpy.context)
    (status,) = [i for i in log if i["kind"] == "label" and i.get("icon") == "ERROR" and "Python" in i["text"]]
    assert status["text"] == "no Python with PyTorch found…" and status["alert"]
    (info,) = [i for i in log if i["kind"] == "operator" and i["args"] == ("intermask.show_message",)]
    assert info["item"].message == settings.status and info["item"].is_error
    settings.status, settings.status_is_error = "Model unloaded", False
    assert not [i for i in drawn(bpy.context) if i["kind"] == "operator" and i["args"] == ("intermask.show_message",)]


def test_the_text_row_has_a_label(scene) -> None:  # noqa: F811
    log = drawn(bpy.context)
    where = next(n for n, i in enumerate(log) if i["kind"] == "template_ID")
    assert log[where - 1]["kind"] == "label" and log[where - 1]["text"] == "Text"


def test_an_old_result_cannot_be_previewed_or_applied_while_a_job_runs(scene, salsa_variations, monkeypatch) -> None:  # noqa: F811
    finished_job(scene, salsa_variations)
    assert bpy.ops.intermask.preview.poll() and bpy.ops.intermask.apply.poll()
    monkeypatch.setattr(job._State, "job", job._Job("job-new", scene.name, "GENERATE", "p", "", 1, ""))
    assert not bpy.ops.intermask.preview.poll() and not bpy.ops.intermask.apply.poll()
    result_items = [i for i in drawn(bpy.context) if i["kind"] == "operator"
                    and i["args"][0] in ("intermask.preview", "intermask.apply")]
    assert len(result_items) == 2 and not any(i["enabled"] for i in result_items)
    (bar,) = [i for i in drawn(bpy.context) if i["kind"] == "progress"]
    assert len(bar["text"]) <= status_line.SIDEBAR_CHARS


@pytest.mark.parametrize(("setting", "value"), [("python_mode", "custom"), ("python_path", "/usr/bin/python3"),
                                                 ("device", "cuda"), ("model", "builtin")])
def test_the_check_result_leaves_when_what_it_checked_changes(scene, setting, value) -> None:  # noqa: F811
    preferences._Tasks.check_result = "Python 3.11.9 · torch 2.5.1 · device cpu"
    setattr(prefs(), setting, value)
    assert preferences._Tasks.check_result == ""


def test_preview_switches_edit_mode_once_for_both_figures(scene, salsa_variations, monkeypatch) -> None:  # noqa: F811
    """Each mode switch is an ``editmode_toggle`` line in the Info log (and an undo step)."""
    real, switches = bpy.ops.object, []

    class CountingOps:
        def __getattr__(self, name: str) -> Any:
            operator = getattr(real, name)

            def call(*args: Any, **kwargs: Any) -> Any:
                switches.append(kwargs.get("mode")) if name == "mode_set" else None
                return operator(*args, **kwargs)
            return call

    finished_job(scene, salsa_variations)
    active = bpy.context.view_layer.objects.active
    monkeypatch.setattr(bpy.ops, "object", CountingOps())
    assert bpy.ops.intermask.preview() == {"FINISHED"}
    assert switches == ["EDIT", "OBJECT"]
    figures = bpy.data.collections["IM_Preview"].objects
    assert len(figures) == 2 and all(f.mode == "OBJECT" for f in figures)
    assert bpy.context.view_layer.objects.active == active
    assert re.fullmatch(r"Previewing variation 1.*", scene.intermask.status)
