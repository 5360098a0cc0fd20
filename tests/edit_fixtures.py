"""What the edit-in-time tests share: the bar a join must stay under, measured on the real salsa pairs."""

from __future__ import annotations

import functools

from vendor_models.data.build import ensure_cache
from vendor_models.evaluation.seams import real_change_percentile


@functools.cache
def real_p99() -> float:
    """99th percentile of real motion's frame-to-frame velocity change (m per frame², every salsa pair)."""
    paths = sorted(ensure_cache().glob("salsa_*.npz"))
    assert len(paths) >= 10, "the real salsa pairs are missing from the cache"
    value = real_change_percentile(paths)
    assert 0.02 < value < 0.2, value          # a plausible human value, so a broken metric cannot pass everything
    return value
