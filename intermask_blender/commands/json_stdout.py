"""Keep stdout for the command's own output while Blender works.

Blender's C code prints to file descriptor 1 (``Info: Saved "scene.blend"``, importer logs), which would
land in front of a ``--json`` summary and make it unparseable. While the work runs, descriptor 1 points
at stderr; the summary is printed after it is put back.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (by Python or by Blender's C code) to stderr meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
