"""What the panel says around a job, in real headless Blender: a cancel is not overwritten by the worker's
last progress line, the sidebar is redrawn only when there is news, "Starting the worker…" only when it is
not running yet, no job folder outlives the Blender session, and React reads its partner across timer
ticks (cancellable, and a partner deleted meanwhile is a message) before the worker gets the job."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import bpy  # first: it puts Blender's own modules on the path
from test_addon import finished_job, run_job, salsa_variations, scene  # noqa: F401  (fixtures)

from intermask_blender.client import job
from intermask_blender.rigs.read_armature import READING_SCENE
from intermask_blender.seam import protocol


class _ScriptedClient:
    """The worker's replies in the order a cancelled job can produce them: the reader thread answers
    ``cancelled`` while the sampling thread still sends the step it was on."""

    def __init__(self, replies: list[list[protocol.Message]]) -> None:
        self.replies, self.ready = replies, None

    def poll(self) -> list[protocol.Message]:
        return self.replies.pop(0) if self.replies else []

    def cancel(self) -> bool:
        return True


def test_a_late_progress_line_does_not_overwrite_the_cancel(scene, monkeypatch) -> None:  # noqa: F811
    settings = scene.intermask
    job_id = "job-late"
    monkeypatch.setattr(job._State, "client", _ScriptedClient([[
        protocol.Error(job_id, protocol.ErrorCode.CANCELLED, "cancelled"),
        protocol.Progress(job_id, step=1, total=10, stage="sampling"),
    ]]))
    monkeypatch.setattr(job._State, "job", job._Job(job_id, scene.name, "GENERATE", "p", "", 1, ""))
    redraws: list[int] = []
    monkeypatch.setattr(job, "_redraw", lambda: redraws.append(1))
    assert job.tick() is None and not job.busy()
    assert settings.status.startswith("Cancelled"), settings.status
    assert redraws == [1]


def test_the_sidebar_is_redrawn_only_when_a_message_arrived(scene, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setattr(job._State, "client", _ScriptedClient([[], [protocol.Progress("job-q", step=2, total=4)]]))
    monkeypatch.setattr(job._State, "job", job._Job("job-q", scene.name, "GENERATE", "p", "", 1, ""))
    redraws: list[int] = []
    monkeypatch.setattr(job, "_redraw", lambda: redraws.append(1))
    assert job.tick() == job.TICK_INTERVAL and redraws == []
    assert job.tick() == job.TICK_INTERVAL and redraws == [1] and scene.intermask.progress == 0.5
    monkeypatch.setattr(job._State, "job", None)


def test_a_second_job_on_a_ready_worker_does_not_say_starting(scene) -> None:  # noqa: F811
    bpy.ops.intermask.generate()
    assert scene.intermask.status == "Starting the worker…"
    run_job()
    bpy.ops.intermask.generate()
    assert scene.intermask.status == "Generating…", scene.intermask.status
    run_job()


_SESSION = textwrap.dedent(r"""
    import sys, time, bpy, addon_utils
    addon_utils.enable("intermask_blender", default_set=True)
    from intermask_blender.client import job
    folder = job.new_job_folder()
    (folder / "clip.npz").write_bytes(b"kept for Preview and Apply while Blender runs")
    print("FOLDER", folder, flush=True)
""")


def test_no_job_folder_outlives_the_blender_session(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _SESSION], capture_output=True, text=True, timeout=120)
    folder = Path(next(line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith("FOLDER")))
    assert not folder.exists(), f"{folder} was left behind"


def _react_on_a_baked_partner(scene: bpy.types.Scene, paths: list[str]) -> bpy.types.Object:  # noqa: F811
    """The mannequins of a finished job applied, person A active as React's partner."""
    finished_job(scene, paths)
    bpy.ops.intermask.apply()
    partner = scene.intermask.armature_a
    bpy.context.view_layer.objects.active = partner
    scene.intermask.mode = "REACT"
    return partner


def test_react_reads_the_partner_across_ticks_and_cancel_stops_the_reading(scene, salsa_variations) -> None:  # noqa: F811
    settings = scene.intermask
    _react_on_a_baked_partner(scene, salsa_variations)
    frame, scenes = scene.frame_current, list(bpy.data.scenes.keys())
    assert bpy.ops.intermask.generate() == {"FINISHED"} and job.busy()
    assert settings.status == "Reading the partner…" and job._State.client is None, "no frame is read in the click"
    assert job.tick() == job.PREPARE_INTERVAL
    assert settings.status.startswith("Reading the partner ") and 0.0 < settings.progress < 1.0, settings.status
    # a baked partner is read from its F-curves: no reading scene, no frame change
    assert list(bpy.data.scenes.keys()) == scenes and scene.frame_current == frame
    folder = Path(job._State.job.out_dir)
    assert bpy.ops.intermask.cancel() == {"FINISHED"}
    assert job.tick() is None and not job.busy()
    assert settings.status.startswith("Cancelled") and not settings.status_is_error
    assert READING_SCENE not in bpy.data.scenes and not folder.exists()


def test_a_partner_deleted_while_it_is_read_ends_the_job_with_a_message(scene, salsa_variations) -> None:  # noqa: F811
    settings = scene.intermask
    partner = _react_on_a_baked_partner(scene, salsa_variations)
    name = partner.name
    bpy.ops.intermask.generate()
    job.tick()
    bpy.data.objects.remove(partner)
    assert job.tick() is None and not job.busy()
    assert settings.status_is_error and f"'{name}' changed while it was being read" in settings.status
    assert READING_SCENE not in bpy.data.scenes


def test_a_read_partner_goes_to_the_worker_and_the_reaction_arrives(scene, salsa_variations) -> None:  # noqa: F811
    settings = scene.intermask
    _react_on_a_baked_partner(scene, salsa_variations)
    bpy.ops.intermask.generate()
    ticks = 0
    while job._State.job is not None and job._State.job.prepare is not None:
        assert job.tick() == job.PREPARE_INTERVAL or job._State.job.prepare is None
        ticks += 1
    assert ticks > 1 and (Path(job._State.job.out_dir) / "partner.npz").is_file()
    assert settings.status in ("Starting the worker…", "Generating…") and settings.progress == 0.0
    run_job()
    assert not settings.status_is_error and len(settings.results) == 1 and settings.result_mode == "REACT", settings.status
