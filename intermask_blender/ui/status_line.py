"""Messages in a sidebar that is narrow: a short status that fits, and the whole text one click away.

Blender cuts a label that does not fit in its middle, which hid the very words a new user needs
(``no Python with Py…eter that has torch``). So the panel shows :func:`short_form` (whole clauses where they
fit, else whole words, then "…"), and when anything was left out an info button beside it whose tooltip is
the whole message and whose click opens it, wrapped, in a popup.
"""

# fake-bpy-module types every context member as Optional:
# mypy: disable-error-code="union-attr,override,attr-defined"

from __future__ import annotations

import re
import textwrap

import bpy

#: Characters of a status that fit beside its icon and the info button in the sidebar at its default
#: width (Blender 4.3 under Xvfb showed 37 characters of a label with an icon and no button).
SIDEBAR_CHARS = 32
#: Characters per line of the popup that shows a whole message.
POPUP_CHARS = 64
ELLIPSIS = "…"
#: Where a clause ends: the short form prefers to stop at one of these.
_CLAUSE_END = re.compile(r"(?=: |; |\. | \(| — )")


def short_form(text: str, limit: int = SIDEBAR_CHARS) -> str:
    """``text`` when it fits in ``limit`` characters, else its longest leading clause that fits (when that
    says enough), else its leading whole words, followed by an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    clauses = [m.start() for m in _CLAUSE_END.finditer(text) if 0 < m.start() <= room]
    if clauses and clauses[-1] >= limit // 2:
        return text[:clauses[-1]].rstrip(" .,:;") + ELLIPSIS
    words = text[:room + 1].rsplit(" ", 1)[0] if " " in text[:room + 1] else text[:room]
    return words.rstrip(" .,:;") + ELLIPSIS


def popup_lines(text: str, width: int = POPUP_CHARS) -> list[str]:
    """The whole message in lines for the info popup (every word kept, long paths broken where they must)."""
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


class INTERMASK_OT_show_message(bpy.types.Operator):
    """Show the whole message"""

    bl_idname = "intermask.show_message"
    bl_label = "Show Message"
    bl_options = {"INTERNAL"}

    message: bpy.props.StringProperty(options={"SKIP_SAVE"})  # type: ignore[valid-type]
    is_error: bpy.props.BoolProperty(options={"SKIP_SAVE"})  # type: ignore[valid-type]

    @classmethod
    def description(cls, _context: bpy.types.Context, properties: bpy.types.OperatorProperties) -> str:
        """The tooltip is the whole message, so hovering is enough to read it."""
        return properties.message

    def execute(self, context: bpy.types.Context) -> set[str]:
        if bpy.app.background or context.window is None:  # no window to pop up in (popup_menu would crash)
            self.report({"ERROR" if self.is_error else "INFO"}, self.message)
            return {"FINISHED"}
        lines = popup_lines(self.message)

        def draw(menu: bpy.types.UIPopupMenu, _context: bpy.types.Context) -> None:
            for line in lines:
                menu.layout.label(text=line)

        title = "InterMask error" if self.is_error else "InterMask"
        context.window_manager.popup_menu(draw, title=title, icon="ERROR" if self.is_error else "INFO")
        return {"FINISHED"}


def draw(layout: bpy.types.UILayout, text: str, *, is_error: bool = False, progress: float | None = None) -> None:
    """One status row: a progress bar while ``progress`` is given, else a label; its short form, plus the
    info button when the short form leaves something out."""
    short = short_form(text)
    row = layout.row(align=True)
    if progress is not None:
        row.progress(factor=progress, type="BAR", text=short)
    else:
        row.alert = is_error
        row.label(text=short, icon="ERROR" if is_error else "INFO")
    if short != " ".join(text.split()):
        button = row.operator(INTERMASK_OT_show_message.bl_idname, text="", icon="INFO", emboss=False)
        button.message, button.is_error = text, is_error


register, unregister = bpy.utils.register_classes_factory((INTERMASK_OT_show_message,))
