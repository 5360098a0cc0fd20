"""A failed Install Dependencies ends as an error line naming the step and pip's cause, in real bpy.

The preferences' timer callback (:func:`preferences._poll_tasks`) is called by hand because bpy as a module
has no event loop; the failing step is a real pip run that cannot find what it is asked for.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

import bpy  # noqa: F401  (first: the add-on's modules import bpy)
import pytest

from intermask_blender.client import deps
from intermask_blender.ui import preferences


@pytest.fixture
def tasks() -> Iterator[type[preferences._Tasks]]:
    yield preferences._Tasks
    preferences._Tasks.install, preferences._Tasks.install_result = None, ""


def test_a_failed_install_reports_its_step_and_pips_cause(tasks: type[preferences._Tasks], tmp_path) -> None:
    offline_pip = [sys.executable, "-m", "pip", "install", "--no-index", "--disable-pip-version-check", "numpy==0.0.1"]
    tasks.install = deps.CommandChain([[sys.executable, "-c", "print('venv made')"], offline_pip],
                                      tmp_path / "install.log",
                                      env={**deps.clean_pip_environment(), "PIP_CONFIG_FILE": os.devnull}).start()
    deadline = time.monotonic() + 120
    while preferences._poll_tasks() is not None:
        assert tasks.install_result == "", "no verdict while the install still runs"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    python = "{}.{}".format(*sys.version_info[:2])
    assert tasks.install_result == (f"Install failed at step 2 of 2: no matching distribution for numpy==0.0.1 "
                                    f"on Python {python} (versions for this platform: none)")
