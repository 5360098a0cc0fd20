"""The shared motion format: skeleton, rotations, the clip file, the worker protocol, foot contacts,
resampling, facing and the canonical frame, and the 262-D feature (numpy and the standard library only).

This is the ONE part of ``vendor_models`` the Blender add-on may import (through ``intermask_blender.seam``),
so nothing in it may import torch or bpy; ``tests/test_layering.py`` imports every module of it to check.
"""
