"""The one place the add-on reaches into ``vendor_models``: its numpy-only ``motion`` package.

In a source checkout ``vendor_models`` is a top-level package; inside the built extension zip it sits
within this add-on's folder. Nothing else of ``vendor_models`` (which needs torch) may be imported here.
"""

try:  # the built extension: vendor_models is bundled inside the add-on package
    from .vendor_models.motion import (  # type: ignore[import-not-found]
        canonical,
        clip_file,
        contacts,
        model_store,
        protocol,
        resampling,
        rotations,
        skeleton,
        solver,
        two_bone,
        worker_launch,
    )
except ModuleNotFoundError as exc:  # a source checkout or an installed project
    if exc.name != f"{__package__}.vendor_models":  # bundled, but a module it needs (numpy) is missing
        raise
    from vendor_models.motion import (  # type: ignore[no-redef]
        canonical,
        clip_file,
        contacts,
        model_store,
        protocol,
        resampling,
        rotations,
        skeleton,
        solver,
        two_bone,
        worker_launch,
    )

__all__ = [
    "canonical", "clip_file", "contacts", "model_store", "protocol", "resampling", "rotations", "skeleton",
    "solver", "two_bone", "worker_launch",
]
