"""The worker process and its client, tested as they run for real: a live worker with the shipped model.

Each test speaks to a real ``python -m vendor_models worker`` process, either through
:class:`WorkerClient` (as the add-on does) or line by line over its pipes (to send what the client never
would). Failures here are what an animator would see as a frozen panel, a lost job or a leaked process.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Iterator, TypeVar

import numpy as np
import pytest

from intermask_blender.client.worker_client import JobFailed, WorkerClient, WorkerClientError, run_job
from vendor_models.motion import protocol as P
from vendor_models.motion import worker_launch
from vendor_models.motion.clip_file import Clip

pytestmark = pytest.mark.timeout(120)

# None = the shipped default the worker loads on its own; the variable points the tests at another one.
CHECKPOINT: Path | None = Path(os.environ["INTERMASK_TEST_CHECKPOINT"]) if os.environ.get("INTERMASK_TEST_CHECKPOINT") else None
START_TIMEOUT = 60.0
MODEL_DIR = CHECKPOINT or worker_launch.vendor_root() / "vendor_models" / "checkpoints" / "default"
#: A model is complete once its transformer is there (the VQ-VAE ships first), as in the other suites.
MODEL_MISSING = None if (MODEL_DIR / "transformer.pt").is_file() else f"no complete model at {MODEL_DIR}"
M = TypeVar("M", bound=P.Message)


def worker_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(worker_launch.vendor_root()), PYTHONSAFEPATH="1")


def wait_for(client: WorkerClient, predicate, timeout: float = 30.0) -> list[P.Message]:
    """Poll until a message satisfies ``predicate``; returns everything seen up to and including it."""
    seen: list[P.Message] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in client.poll(timeout=0.1):
            seen.append(message)
            if predicate(message):
                return seen
    raise AssertionError(f"no matching message within {timeout} s; saw {seen[-5:]}")


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting to be reaped counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in (b"Z", b"X")


class RawWorker:
    """A worker driven over its pipes, for lines the client would never send."""

    def __init__(self, *args: str) -> None:
        if CHECKPOINT is not None and "--checkpoint" not in args:
            args = (*args, "--checkpoint", str(CHECKPOINT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vendor_models", "worker", "--device", "cpu", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=worker_env())
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def write(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def read(self, timeout: float = START_TIMEOUT) -> P.Message:
        return P.parse(self.lines.get(timeout=timeout))

    def until(self, kind: type[M], job_id: str, timeout: float = 30.0) -> M:
        deadline = time.monotonic() + timeout
        while True:
            message = self.read(max(0.1, deadline - time.monotonic()))
            if message.id == job_id and isinstance(message, (kind, P.Error, P.Result)):
                assert isinstance(message, kind), message
                return message

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def client() -> Iterator[WorkerClient]:
    if MODEL_MISSING:
        pytest.skip(MODEL_MISSING)
    c = WorkerClient(sys.executable, CHECKPOINT, "cpu")
    c.start()
    wait_for(c, lambda m: isinstance(m, P.Ready), START_TIMEOUT)
    yield c
    c.shutdown()


def generate(client: WorkerClient, **fields) -> P.Generate:
    sampler = {name: fields.pop(name) for name in ("seed", "variations", "guidance", "steps") if name in fields}
    sampler.setdefault("steps", 4)
    fields.setdefault("prompt", "two people shake hands")
    fields.setdefault("seconds", 2.0)
    return P.Generate(P.new_job_id(), sampler=P.SamplerSettings(**sampler), **fields)


def long_job(client: WorkerClient) -> P.Generate:
    """Many cheap steps: it runs for many seconds, yet each step (the cancel granularity) is short."""
    return generate(client, seconds=2.0, steps=100)


def test_ready_names_model_device_and_versions(client: WorkerClient) -> None:
    ready = client.ready
    assert ready is not None and ready.loaded, "the model loads eagerly, before ready"
    assert ready.device == "cpu" and ready.model
    assert {"python", "torch", "numpy"} <= set(ready.versions)


def test_generate_writes_loadable_clips_and_reports_each_step(client: WorkerClient, tmp_path: Path) -> None:
    progress: list[P.Progress] = []
    request = generate(client, variations=2, steps=5, seconds=2.0, seed=3, out_dir=str(tmp_path))
    result = run_job(client, request, on_progress=progress.append, timeout=60)
    assert len(result.clips) == 2
    for path in result.clips:
        assert Path(path).parent == tmp_path
        clip = Clip.load(path)
        assert clip.num_people == 2 and clip.num_frames == 60 and clip.fps == 30
        assert np.ptp(clip.positions[:, :, 0], axis=0).max() > 0.01, "the pelvis never moves: not a motion"
    assert result.timings["job_s"] > 0
    sampling = [p.step for p in progress if p.stage == "sampling"]
    assert sampling == list(range(1, 6)), sampling
    assert client.job_id is None


def test_client_refuses_a_second_job_and_cancel_stops_within_one_second(client: WorkerClient) -> None:
    job_id = client.submit(long_job(client))
    with pytest.raises(WorkerClientError, match="already running"):
        client.submit(generate(client))
    wait_for(client, lambda m: isinstance(m, P.Progress) and m.id == job_id and m.step >= 1)
    asked = time.monotonic()
    assert client.cancel()
    seen = wait_for(client, lambda m: m.id == job_id and isinstance(m, (P.Error, P.Result)), timeout=5.0)
    took = time.monotonic() - asked
    assert isinstance(seen[-1], P.Error) and seen[-1].code == P.ErrorCode.CANCELLED
    assert took <= 1.0, f"cancel took {took:.2f} s"
    assert client.job_id is None
    # the worker lives on and answers the next job
    assert run_job(client, generate(client, steps=2), timeout=60).clips


@pytest.mark.parametrize("fields, code", [
    ({"prompt": ""}, P.ErrorCode.BAD_PROMPT),
    ({"prompt": " \n\t "}, P.ErrorCode.BAD_PROMPT),
    ({"seconds": 0.5}, P.ErrorCode.BAD_SECONDS),
    ({"seconds": P.MAX_TAKE_SECONDS + 1}, P.ErrorCode.BAD_SECONDS),   # over 10 s is a long take, over 60 s too long
    ({"variations": 0}, P.ErrorCode.BAD_REQUEST),
    ({"prompts": ["only one"]}, P.ErrorCode.BAD_PROMPT),
    ({"out_dir": "/proc/no-such-place/clips"}, P.ErrorCode.BAD_REQUEST),
])
def test_bad_generate_requests_get_their_code(client: WorkerClient, fields: dict, code: str) -> None:
    with pytest.raises(JobFailed) as failed:
        run_job(client, generate(client, **fields), timeout=60)
    assert failed.value.code == code and failed.value.message


def test_bad_partner_clips_are_named(client: WorkerClient, tmp_path: Path) -> None:
    missing = tmp_path / "missing.npz"
    two = tmp_path / "two_people.npz"
    rotations = np.zeros((40, 2, 22, 4), np.float32)
    rotations[..., 0] = 1
    Clip(np.zeros((40, 2, 22, 3)), rotations, np.zeros((40, 2, 4), bool)).save(two)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    for path in (missing, two, junk):
        with pytest.raises(JobFailed) as failed:
            run_job(client, P.React(P.new_job_id(), prompt="react", partner=str(path)), timeout=60)
        assert failed.value.code == P.ErrorCode.BAD_PARTNER and str(path) in failed.value.message


def test_overlong_prompt_is_cut_with_a_warning(client: WorkerClient) -> None:
    result = run_job(client, generate(client, prompt="two people dance " * 60, steps=2), timeout=60)
    assert any(str(P.MAX_PROMPT_CHARS) in w for w in result.warnings)


def test_react_keeps_the_partner_and_adds_the_other_person(client: WorkerClient, tmp_path: Path) -> None:
    made = run_job(client, generate(client, seconds=2.0, steps=2, out_dir=str(tmp_path)), timeout=60)
    partner = Clip.load(made.clips[0]).person(0)
    partner_file = partner.save(tmp_path / "partner.npz")
    result = run_job(client, P.React(P.new_job_id(), prompt="the other person waves back", partner=str(partner_file),
                                     sampler=P.SamplerSettings(steps=2), out_dir=str(tmp_path)), timeout=60)
    clip = Clip.load(result.clips[0])
    assert clip.num_people == 2
    frames = clip.num_frames
    np.testing.assert_allclose(clip.positions[:, 0], partner.positions[:frames, 0], atol=1e-5)


def test_unload_frees_the_model_and_the_next_job_reloads_it(client: WorkerClient) -> None:
    assert client.unload()
    ready = wait_for(client, lambda m: isinstance(m, P.Ready), 30)[-1]
    assert isinstance(ready, P.Ready) and not ready.loaded
    result = run_job(client, generate(client, steps=2), timeout=60)
    assert result.timings["load_s"] > 0.01, "the model was not loaded again"


def send_raw(client: WorkerClient, line: str) -> None:
    """Write a line the client itself would never send, straight into the worker's stdin."""
    stdin = client._proc.stdin if client._proc is not None else None
    assert stdin is not None
    stdin.write(line + "\n")
    stdin.flush()


def test_malformed_lines_get_errors_and_the_worker_carries_on(client: WorkerClient, tmp_path: Path) -> None:
    cases = {
        "this is not json": "worker",
        "[1, 2]": "worker",
        '{"type": "generate"}': "worker",
        '{"type": "dance", "id": "a"}': "a",
        '{"type": "generate", "id": "b", "colour": "red"}': "b",
        '{"type": "generate", "id": "c", "seconds": "six"}': "c",
        '{"type": "result", "id": "d"}': "d",
    }
    for line, job_id in cases.items():
        send_raw(client, line)
        reply = wait_for(client, lambda m: isinstance(m, P.Error), 10)[-1]
        assert isinstance(reply, P.Error) and reply.id == job_id and reply.code == P.ErrorCode.BAD_REQUEST, line
    send_raw(client, P.Cancel("nobody").to_json())
    reply = wait_for(client, lambda m: m.id == "nobody", 10)[-1]
    assert isinstance(reply, P.Error) and reply.code == P.ErrorCode.UNKNOWN_JOB
    # two jobs back to back: the second is refused as busy, the first still finishes
    send_raw(client, P.Generate("first", prompt="two people hug", seconds=2.0, sampler=P.SamplerSettings(steps=2),
                                out_dir=str(tmp_path)).to_json())
    send_raw(client, P.Generate("second", prompt="two people hug").to_json())
    seen = wait_for(client, lambda m: isinstance(m, (P.Result, P.Error)) and m.id == "first", 60)
    busy = [m for m in seen if m.id == "second"]
    assert len(busy) == 1 and isinstance(busy[0], P.Error) and busy[0].code == P.ErrorCode.BUSY
    assert isinstance(seen[-1], P.Result) and Path(seen[-1].clips[0]).is_file()


def test_missing_checkpoint_is_named_and_stdin_eof_ends_the_worker(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_checkpoint"
    worker = RawWorker("--checkpoint", str(missing))
    try:
        error = worker.read()
        assert isinstance(error, P.Error) and error.code == P.ErrorCode.CHECKPOINT and str(missing) in error.message
        ready = worker.read()
        assert isinstance(ready, P.Ready) and not ready.loaded
        worker.write(P.Generate("job", prompt="two people hug").to_json())
        error = worker.until(P.Error, "job")
        assert error.code == P.ErrorCode.CHECKPOINT and str(missing) in error.message
        # the worker is alive after the failures; stdin closing is the parent saying goodbye
        assert worker.proc.poll() is None and worker.proc.stdin is not None
        worker.proc.stdin.close()
        assert worker.proc.wait(10) == 0
    finally:
        worker.close()


@pytest.mark.skipif(MODEL_MISSING is not None, reason=str(MODEL_MISSING))
def test_corrupt_checkpoint_names_the_file(tmp_path: Path) -> None:
    broken = shutil.copytree(MODEL_DIR, tmp_path / "broken")
    weights = max((p for p in broken.rglob("*") if p.is_file() and p.suffix in (".pt", ".pth", ".safetensors")),
                  key=lambda p: p.stat().st_size)
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    worker = RawWorker("--checkpoint", str(broken))
    try:
        error = worker.read()
        assert isinstance(error, P.Error) and error.code == P.ErrorCode.CHECKPOINT
        assert weights.name in error.message, error.message
    finally:
        worker.close()


def test_worker_exits_when_its_parent_is_killed() -> None:
    """Blender killed hard: the worker's stdin stays open (we hold it), only the watchdog can notice."""
    read_end, write_end = os.pipe()
    parent_script = textwrap.dedent(f"""
        import os, subprocess, sys, time
        worker = subprocess.Popen([sys.executable, "-m", "vendor_models", "worker", "--device", "cpu",
                                   "--parent-pid", str(os.getpid())], stdin={read_end},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=({read_end},))
        print(worker.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_script], stdout=subprocess.PIPE, text=True,
                              pass_fds=(read_end,), env=worker_env())
    os.close(read_end)
    try:
        assert parent.stdout is not None
        worker_pid = int(parent.stdout.readline())
        time.sleep(1.0)
        assert not process_gone(worker_pid), "the worker died before its parent"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5.0
        while not process_gone(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process_gone(worker_pid), "the worker outlived its killed parent"
    finally:
        os.close(write_end)
        if parent.poll() is None:
            parent.kill()


def test_crash_is_reported_and_the_next_job_restarts_the_worker(client: WorkerClient) -> None:
    job_id = client.submit(long_job(client))
    wait_for(client, lambda m: isinstance(m, P.Progress) and m.id == job_id)
    crashed_pid = client.pid
    assert crashed_pid is not None
    os.kill(crashed_pid, signal.SIGKILL)
    error = wait_for(client, lambda m: isinstance(m, P.Error) and m.id == job_id, 10)[-1]
    assert isinstance(error, P.Error) and error.code == P.ErrorCode.INTERNAL
    assert "worker crashed" in error.message and str(-signal.SIGKILL) in error.message
    assert not client.alive and client.job_id is None
    result = run_job(client, generate(client, steps=2), timeout=START_TIMEOUT + 30)
    assert result.clips and client.alive and client.pid != crashed_pid


def test_shutdown_ends_the_process(client: WorkerClient) -> None:
    """Runs last: it stops the module's worker, which is what the add-on does on quit."""
    if not client.alive:
        client.start()
    wait_for(client, lambda m: isinstance(m, P.Ready), START_TIMEOUT) if client.ready is None else None
    pid = client.pid
    assert pid is not None and client.alive
    began = time.monotonic()
    client.shutdown()
    assert not client.alive and time.monotonic() - began < 3.0
    assert client.poll(0.5) == [], "a requested shutdown is not a crash"
    assert process_gone(pid)


@pytest.mark.skipif(MODEL_MISSING is not None, reason=str(MODEL_MISSING))
def test_the_thread_that_runs_jobs_uses_the_workers_thread_count() -> None:
    """OpenMP's thread count is per calling thread: set only where the model loads, the thread that runs the
    jobs kept one thread per core, so torch took Blender's core too."""
    import torch

    from vendor_models.worker.process import ModelSlot

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    slot = ModelSlot(CHECKPOINT, "cpu", threads=1)
    try:
        slot.get(lambda: False)
        assert torch.get_num_threads() == 1
    finally:
        slot.unload()
        torch.set_num_threads(previous)


def test_the_workers_thread_pools_leave_a_core_to_blender(monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy's BLAS and OpenMP size their pools from the environment when the worker imports them."""
    for name in worker_launch.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    cores = str(max(1, len(os.sched_getaffinity(0)) - 1))
    assert all(worker_launch.worker_environment()[name] == cores for name in worker_launch.THREAD_VARIABLES)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")  # a pool the user sized stays theirs
    assert worker_launch.worker_environment()["OPENBLAS_NUM_THREADS"] == "3"
