"""Mounts under the GUI root, made so that a mistake can never reach the folders they show.

The root holds the project and the worker's Python bind-mounted at their own paths. Deleting the root
while they are mounted would delete the project and the machine's Python, so every rule here exists to
make that impossible: the project folders are mounted read-only, every mount is private (an unmount
inside the root never propagates to the host's own mounts), :class:`MountSet` unmounts everything it
made on every way out (errors, Ctrl+C, SIGTERM/SIGHUP), nothing starts while anything is still mounted
under the root, and the root is only ever removed with ``rm --one-file-system`` after ``findmnt`` shows
nothing under it.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Self


class MountError(RuntimeError):
    """A mount could not be made or removed, or something is still mounted where it must not be."""


def _run(*cmd: str | Path) -> None:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise MountError(f"{' '.join(str(c) for c in cmd)} failed: {(done.stderr or done.stdout).strip()}")


def mounted_under(root: Path) -> list[Path]:
    """Every mount point at or below ``root`` according to ``findmnt`` (the kernel's own table), deepest
    first so they can be unmounted in this order."""
    root = root.resolve()
    done = subprocess.run(["findmnt", "--list", "--noheadings", "--output", "TARGET"],
                          capture_output=True, text=True, check=True)
    found = {Path(line.strip()) for line in done.stdout.splitlines() if line.strip()}
    under = [path for path in found if path == root or root in path.parents]
    return sorted(under, key=lambda path: len(path.parts), reverse=True)


def refuse_if_mounted(root: Path) -> None:
    """Stop before anything starts when a previous run left a mount under ``root``."""
    left = mounted_under(root)
    if left:
        shown = ", ".join(str(path) for path in left)
        raise MountError(f"still mounted under {root}: {shown}; unmount them (umount -R) before running again")


def unmount_all(root: Path) -> list[Path]:
    """Unmount everything below ``root``, deepest first; returns what was unmounted. A busy mount is
    detached lazily rather than left behind (its files stay reachable only to processes still using it)."""
    left = mounted_under(root)
    for path in left:
        done = subprocess.run(["umount", str(path)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            _run("umount", "--lazy", path)
    still = mounted_under(root)
    if still:
        raise MountError(f"could not unmount under {root}: {', '.join(map(str, still))}")
    return left


def remove_root(root: Path) -> None:
    """Delete ``root`` only when nothing is mounted under it, and even then with ``rm --one-file-system``
    (it skips other file systems). That alone does not guard a bind mount of the same disk: rm deletes
    through it. The read-only mounts are what stop that, so a mount that appears after the check fails
    the delete instead of emptying the project."""
    refuse_if_mounted(root)
    _run("rm", "-rf", "--one-file-system", root)


class _Stop(BaseException):
    """SIGTERM/SIGHUP turned into an exception so ``finally`` blocks (the unmounts) run."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(f"stopped by signal {signum}")


class MountSet:
    """The mounts of one run inside ``root``: each is made private at once and all are removed by
    :meth:`close` (also from ``with``), whatever happened in between."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.made: list[Path] = []

    def inside(self, path: Path) -> Path:
        """Where ``path`` (absolute, outside) appears inside the root."""
        return self.root / path.resolve().relative_to("/")

    def _mount(self, target: Path, *args: str | Path) -> Path:
        target.mkdir(parents=True, exist_ok=True)
        _run("mount", *args, target)
        self.made.append(target)
        _run("mount", "--make-private", target)
        return target

    def bind_read_only(self, source: Path) -> Path:
        """Show ``source`` at its own path inside the root, read-only; a write there fails, a delete too."""
        source = source.resolve()
        if source == Path("/"):
            raise MountError("refusing to bind-mount / into the root")
        target = self._mount(self.inside(source), "--bind", source)
        _run("mount", "-o", "remount,bind,ro", target)
        return target

    def bind(self, source: Path, target: Path) -> Path:
        """A writable, non-recursive bind (only for /dev, whose device nodes the root needs)."""
        return self._mount(target, "--bind", source)

    def filesystem(self, kind: str, target: Path) -> Path:
        """A fresh instance of a virtual file system (proc, sysfs, tmpfs) at ``target``."""
        return self._mount(target, "-t", kind, kind)

    def close(self) -> None:
        """Unmount everything under the root (not only what this set made: nothing may stay)."""
        self.made.clear()
        unmount_all(self.root)

    def __enter__(self) -> Self:
        refuse_if_mounted(self.root)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@contextmanager
def signals_unwind() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP unwind like Ctrl+C does, so every ``finally`` (unmount) runs."""
    wanted = (signal.SIGTERM, signal.SIGHUP)
    before = {sig: signal.signal(sig, _raise_stop) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
