"""The panel's settings and job state, stored per scene as ``scene.intermask``.

The prompt is one line in the panel; for longer or per-person prompts the animator picks a Text
datablock (written in Blender's Text Editor) instead. With "One line per person", the text's first two
non-empty lines are the prompts of person A and person B; otherwise all its lines form one prompt.
"""

# fake-bpy-module types every context member as Optional and RNA collections as unions of all ID types:
# mypy: disable-error-code="union-attr,override,attr-defined,assignment"

from __future__ import annotations

import bpy

from ..errors import UsageError
from ..seam import protocol


def _is_armature(_self: bpy.types.PropertyGroup, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


class IM_ResultClip(bpy.types.PropertyGroup):
    """One generated variation: ``name`` holds the path of the clip file the worker wrote."""


class IM_SceneSettings(bpy.types.PropertyGroup):
    mode: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Mode",
        items=[
            ("GENERATE", "Generate", "Generate both people from the prompt"),
            ("REACT", "React", "Keep the active animated armature as person A and generate person B"),
        ],
        default="GENERATE",
    )
    prompt: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Prompt",
        description="What the two people do, e.g. 'two people dance salsa together'",
        default="two people dance salsa together, holding hands and turning",
        maxlen=protocol.MAX_PROMPT_CHARS,
    )
    prompt_text: bpy.props.PointerProperty(  # type: ignore[valid-type]
        name="Prompt Text",
        type=bpy.types.Text,
        description="Use this Text datablock as the prompt (for long or per-person prompts)",
    )
    per_person_lines: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="One Line per Person",
        description="The text's first two non-empty lines are the prompts of person A and person B",
        default=False,
    )
    seconds: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Seconds", default=6.0, min=protocol.MIN_SECONDS, max=protocol.MAX_SECONDS, precision=1,
        description="Length of the generated motion",
    )
    seed: bpy.props.IntProperty(name="Seed", default=1, min=0, description="Same seed, same motion")  # type: ignore[valid-type]
    variations: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Variations", default=1, min=1, max=protocol.MAX_VARIATIONS,
        description="How many different motions to generate for the prompt",
    )
    own_sampler: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Override the model's settings", default=False,
        description="Use the guidance and steps below instead of the chosen model's own defaults",
    )
    guidance: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Guidance", default=protocol.DEFAULT_GUIDANCE, min=0.0, max=10.0,
        description="Classifier-free guidance: higher follows the prompt more closely, lower is more varied",
    )
    steps: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Steps", default=protocol.DEFAULT_STEPS, min=1, max=100, description="Unmasking steps of the sampler",
    )
    armature_a: bpy.props.PointerProperty(  # type: ignore[valid-type]
        name="Person A", type=bpy.types.Object, poll=_is_armature,
        description="Rig for person A (empty: build the InterMask mannequin)",
    )
    armature_b: bpy.props.PointerProperty(  # type: ignore[valid-type]
        name="Person B", type=bpy.types.Object, poll=_is_armature,
        description="Rig for person B (empty: build the InterMask mannequin)",
    )
    results: bpy.props.CollectionProperty(type=IM_ResultClip)  # type: ignore[valid-type]
    result_mode: bpy.props.StringProperty(default="GENERATE")  # type: ignore[valid-type]
    result_prompt: bpy.props.StringProperty(default="")  # type: ignore[valid-type]
    variation: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Variation", default=1, min=1, max=protocol.MAX_VARIATIONS, description="Which variation to preview or apply",
    )
    result_partner: bpy.props.StringProperty(default="")  # type: ignore[valid-type]
    result_start: bpy.props.IntProperty(default=1)  # type: ignore[valid-type]
    status: bpy.props.StringProperty(name="Status", default="")  # type: ignore[valid-type]
    status_is_error: bpy.props.BoolProperty(default=False)  # type: ignore[valid-type]
    progress: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR",
    )


def prompts_of(settings: IM_SceneSettings) -> tuple[str, list[str]]:
    """(prompt, per-person prompts) as the worker wants them; per-person is empty unless asked for.

    Raises ValueError with a message for the status line when the text cannot give two prompts."""
    text = settings.prompt_text
    if text is None:
        return settings.prompt.strip(), []
    lines = [line.body.strip() for line in text.lines if line.body.strip()]
    if settings.per_person_lines:
        if len(lines) < 2:
            raise UsageError(f"'One Line per Person' needs two non-empty lines in the text '{text.name}'")
        return f"{lines[0]} / {lines[1]}", lines[:2]
    return " ".join(lines), []


CLASSES = (IM_ResultClip, IM_SceneSettings)


def sampler_settings(settings: IM_SceneSettings) -> protocol.SamplerSettings:
    """The panel's sampler settings, carried whole to the worker; guidance and steps stay unset (the
    model's own defaults) unless the animator overrides them."""
    own = bool(settings.own_sampler)
    return protocol.SamplerSettings(seed=settings.seed, variations=settings.variations,
                                    guidance=float(settings.guidance) if own else None,
                                    steps=int(settings.steps) if own else None)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.intermask = bpy.props.PointerProperty(type=IM_SceneSettings)


def unregister() -> None:
    del bpy.types.Scene.intermask
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)

