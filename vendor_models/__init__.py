"""The model half of InterMask for Blender.

Importing this package (or its numpy-only modules ``skeleton``, ``clip`` and ``protocol``) must stay
cheap and must never import torch or bpy: the Blender add-on imports those three modules directly.
Everything that needs torch lives in submodules that are imported on demand.
"""

__version__ = "0.1.0"
