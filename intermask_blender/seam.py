"""The numpy-only modules both halves share (skeleton, clip file, worker protocol, rotation maths, contacts).

In a source checkout ``vendor_models`` is a top-level package; inside the built extension zip it sits
within this add-on's folder. Either way, this is the one place the add-on reaches into it.
"""

try:  # the built extension: vendor_models is bundled inside the add-on package
    from .vendor_models import clip, features, protocol, rotations, skeleton  # type: ignore[attr-defined]
except ImportError:  # a source checkout or an installed project
    from vendor_models import clip, features, protocol, rotations, skeleton  # type: ignore[no-redef]

__all__ = ["clip", "features", "protocol", "rotations", "skeleton"]
