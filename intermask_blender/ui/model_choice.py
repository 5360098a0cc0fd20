"""Which model generates: the dropdown's items, the chosen model's card, and its licence notice.

The items are the built-in model plus every model in the user's model store (listed by the stdlib
``model_store`` through the seam, so no torch here). Each item's number is a hash of its name, so the
stored choice keeps pointing at the same model when others are imported or removed. An official InterMask
model is non-commercial: :func:`draw_choice` shows that notice whenever one is selected.
"""

# fake-bpy-module types every context member as Optional and RNA collections as unions of all ID types:
# mypy: disable-error-code="union-attr,override,attr-defined,assignment"

from __future__ import annotations

import json
import textwrap
import zlib

import bpy

from ..seam import model_store

CARD_TEXT = "InterMask model card"
#: Blender keeps only pointers to the items' strings: the list must outlive the callback.
_ITEMS: list[tuple[str, str, str, int]] = []


def _number(name: str) -> int:
    return 0 if name == model_store.BUILTIN else (zlib.crc32(name.encode()) & 0x7FFFFFFF) or 1


def model_items(_self: object, _context: bpy.types.Context | None) -> list[tuple[str, str, str, int]]:
    """Enum items: the built-in model first, then the store's models by name."""
    items = [(model_store.BUILTIN, "Built-in (small, CMU data)", "The model shipped with the add-on", 0)]
    for entry in model_store.list_models():
        label = f"{entry.name} (non-commercial)" if entry.non_commercial else entry.name
        items.append((entry.name, label, str(entry.card.get("licence_short", entry.kind)), _number(entry.name)))
    _ITEMS[:] = items
    return _ITEMS


def selected(name: str) -> model_store.ModelEntry:
    """The entry of a dropdown value; an empty value (the stored model was removed) is the built-in one."""
    return model_store.find_model(name or model_store.BUILTIN)


def card_text(entry: model_store.ModelEntry) -> str:
    """What the model-card button shows: licence first, then MODEL_CARD.md or the card's fields."""
    lines = [f"Model: {entry.name}", f"Folder: {entry.folder}", ""]
    if entry.licence:
        lines += [*textwrap.wrap(f"LICENCE: {entry.licence}", 100), ""]
    written = entry.folder / "MODEL_CARD.md"
    if written.is_file():
        lines.append(written.read_text(encoding="utf-8"))
    else:
        shown = {k: v for k, v in entry.card.items() if k not in ("licence", "licence_short")}
        lines.append(json.dumps(shown, indent=2))
    return "\n".join(lines)


def draw_choice(layout: bpy.types.UILayout, prefs: bpy.types.AddonPreferences | None) -> None:
    """The dropdown, the card button and (for a non-commercial model) the licence notice."""
    if prefs is None:
        layout.label(text="Model: built-in (enable the add-on to choose)", icon="INFO")
        return
    row = layout.row(align=True)
    row.prop(prefs, "model", text="Model")
    if not prefs.model:
        layout.label(text="The chosen model left the models folder: the built-in model runs", icon="ERROR")
    row.operator(INTERMASK_OT_model_card.bl_idname, text="", icon="HELP").name = prefs.model
    try:
        entry = selected(prefs.model)
    except model_store.ModelStoreError as exc:
        layout.label(text=str(exc), icon="ERROR")
        return
    if entry.non_commercial:
        box = layout.box()
        box.alert = True
        lines = textwrap.wrap(str(entry.card.get("licence_short") or entry.licence), 48)
        for number, line in enumerate(lines):
            box.label(text=line, icon="ERROR" if number == 0 else "BLANK1")


class INTERMASK_OT_model_card(bpy.types.Operator):
    """Show the chosen model's card (data, licence, settings) in the Text Editor"""

    bl_idname = "intermask.model_card"
    bl_label = "Model Card"

    name: bpy.props.StringProperty(name="Model", default=model_store.BUILTIN)  # type: ignore[valid-type]

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            entry = selected(self.name)
        except model_store.ModelStoreError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        text = bpy.data.texts.get(CARD_TEXT) or bpy.data.texts.new(CARD_TEXT)
        text.from_string(card_text(entry))
        shown = False
        for window in context.window_manager.windows if context.window_manager else ():
            for area in window.screen.areas if window.screen is not None else ():
                if area.type == "TEXT_EDITOR":
                    area.spaces.active.text = text
                    shown = True
        where = "shown in the Text Editor" if shown else f"open the Text '{CARD_TEXT}' in a Text Editor"
        self.report({"INFO"}, f"Model card of {entry.name}: {where}")
        return {"FINISHED"}


register, unregister = bpy.utils.register_classes_factory((INTERMASK_OT_model_card,))
