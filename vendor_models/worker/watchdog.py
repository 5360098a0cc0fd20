"""Make the worker end when the process that started it ends (stdlib only).

Why: if Blender crashes or is killed, nobody closes the worker's stdin cleanly on every platform, and a
model worker left behind holds gigabytes. A daemon thread polls the parent and hard-exits the worker.
"""

from __future__ import annotations

import os
import sys
import threading
import time

INTERVAL_S = 0.5


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie counts as exited)."""
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):  # no /proc (macOS): os.kill said it exists
        return True


def _windows_pid_alive(pid: int) -> bool:
    # os.kill(pid, 0) would TERMINATE the process on Windows, so ask the kernel instead.
    import ctypes

    synchronize, wait_timeout = 0x00100000, 0x102
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(synchronize, False, pid)
    if not handle:
        return ctypes.get_last_error() == 5  # type: ignore[attr-defined]  # access denied: it exists
    try:
        return bool(kernel32.WaitForSingleObject(handle, 0) == wait_timeout)
    finally:
        kernel32.CloseHandle(handle)


def watch_parent(parent_pid: int | None, interval: float = INTERVAL_S) -> threading.Thread | None:
    """Start a daemon thread that exits this process once ``parent_pid`` (default: our parent) ends."""
    direct_parent = os.getppid() if hasattr(os, "getppid") else None
    pid = parent_pid if parent_pid is not None else direct_parent
    if pid is None or pid <= 1:
        return None
    # When the watched process is our direct parent, re-parenting (POSIX) is the fastest sign it died.
    reparent_check = sys.platform != "win32" and pid == direct_parent

    def watch() -> None:
        while True:
            time.sleep(interval)
            if (reparent_check and os.getppid() != pid) or not pid_alive(pid):
                print(f"[intermask worker] parent process {pid} is gone; exiting", file=sys.stderr, flush=True)
                os._exit(0)

    thread = threading.Thread(target=watch, name="parent-watchdog", daemon=True)
    thread.start()
    return thread
