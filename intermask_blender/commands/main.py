"""The `intermask` command: Blender-side subcommands run here, model-side ones in a clean interpreter.

``generate``, ``react`` and ``bake`` drive headless Blender (bpy) and talk to the worker process like
the panel does. Every other subcommand belongs to ``vendor_models`` and is handed to a fresh Python via
``exec`` so that torch and bpy never share a process.
"""

from __future__ import annotations

import importlib
import os
import sys

#: subcommand → (module in this package, one-line help)
BLENDER_COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("generate", "generate an interaction with the worker and bake it into a .blend"),
    "react": ("react", "generate person B reacting to an animated partner (.bvh/.fbx/.glb or .blend:OBJECT)"),
    "bake": ("bake_saved", "bake a saved clip (.npz) onto rigs (--rig SPEC) into a .blend"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in BLENDER_COMMANDS:
        module = importlib.import_module(f".{BLENDER_COMMANDS[argv[0]][0]}", __package__)
        return int(module.main(argv[1:]) or 0)
    if not argv or argv[0] in ("-h", "--help"):
        print("Blender commands:")
        for name, (_, help_text) in BLENDER_COMMANDS.items():
            print(f"  {name:<12} {help_text}")
        print()
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "vendor_models", *argv])
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main())
