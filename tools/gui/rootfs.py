"""The Debian trixie root that holds a real Blender with a GUI (4.3.2, Python 3.13) and an X server.

Debian 12's own Blender is 3.4, too old for extensions; trixie's is the oldest packaged one that has
them. The root lives in the user's cache folder, never in the repository, because runs bind-mount the
project into it. It is made once (``debootstrap`` plus ``apt-get install``, a few minutes) and reused;
a half-made root is recognised by its missing stamp and made again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .mounts import MountSet, refuse_if_mounted, remove_root

SUITE = "trixie"
#: python3-numpy is not a dependency of Debian's blender, and the add-on cannot load without numpy.
PACKAGES = ("blender", "xvfb", "xauth", "x11-apps", "imagemagick", "libgl1-mesa-dri", "libglx-mesa0",
            "ca-certificates", "procps", "python3-numpy")
STAMP = "intermask-gui-root"
FALLBACK_MIRROR = "http://deb.debian.org/debian"


class RootError(RuntimeError):
    """The root could not be made; the message says why (no mirror reachable, not root, no debootstrap)."""


def default_root() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "intermask" / "gui-root"


def apt_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt already uses (deb822 ``URIs:`` or one-line ``deb`` sources),
    so the root comes from wherever the machine is allowed to download from."""
    files = sorted(sources.glob("sources.list.d/*.sources")) + [sources / "sources.list"]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.MULTILINE) + re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.MULTILINE):
            if re.search(r"/debian/?$", uri):
                return uri.rstrip("/")
    return FALLBACK_MIRROR


def is_ready(root: Path) -> bool:
    return (root / "etc" / STAMP).is_file() and (root / "usr" / "bin" / "blender").is_file()


def _run(cmd: list[str], what: str) -> None:
    print("+", " ".join(cmd), flush=True)
    if subprocess.run(cmd, check=False).returncode != 0:
        raise RootError(f"{what} failed (see the output above); is a Debian mirror reachable from this machine?")


def chroot_command(root: Path, *cmd: str, env: dict[str, str] | None = None) -> list[str]:
    """``cmd`` run inside the root with a clean environment (nothing of the caller's leaks in)."""
    base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
    base.update(env or {})
    return ["chroot", str(root), "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in base.items()), *cmd]


def system_mounts(mounts: MountSet) -> None:
    """proc, sysfs, the host's device nodes (non-recursive) and a fresh /dev/shm: all Blender and Xvfb need."""
    root = mounts.root
    mounts.filesystem("proc", root / "proc")
    mounts.filesystem("sysfs", root / "sys")
    mounts.bind(Path("/dev"), root / "dev")
    mounts.filesystem("tmpfs", root / "dev" / "shm")


def make_root(root: Path) -> None:
    """debootstrap trixie into ``root`` and install Blender and Xvfb; a failure removes the half-made root."""
    if os.geteuid() != 0:
        raise RootError("making the GUI root needs root (debootstrap and chroot); run as root")
    if shutil.which("debootstrap") is None:  # a fresh machine (CI's clean one) has none: the set-up installs it
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"]):
            print("+", " ".join(cmd), flush=True)
            if subprocess.run(cmd, env=env, check=False).returncode != 0:
                raise RootError("debootstrap is not installed and `apt-get install debootstrap` failed "
                                "(see the output above); is a Debian mirror reachable from this machine?")
    refuse_if_mounted(root)
    if root.exists():
        remove_root(root)  # a half-made root from an interrupted set-up
    root.parent.mkdir(parents=True, exist_ok=True)
    mirror = apt_mirror()
    try:
        _run(["debootstrap", "--variant=minbase", SUITE, str(root), mirror], f"debootstrap {SUITE} from {mirror}")
        (root / "etc" / "apt" / "sources.list").write_text(f"deb {mirror} {SUITE} main\n")
        shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
        mtab = root / "etc" / "mtab"
        if not mtab.is_symlink():
            mtab.unlink(missing_ok=True)
            mtab.symlink_to("/proc/self/mounts")
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        with MountSet(root) as mounts:
            system_mounts(mounts)
            _run(chroot_command(root, "apt-get", "update", env=env), "apt-get update in the root")
            _run(chroot_command(root, "apt-get", "install", "-y", "--no-install-recommends", *PACKAGES, env=env),
                 "installing Blender and Xvfb in the root")
            _run(chroot_command(root, "apt-get", "clean"), "apt-get clean")
        (root / "etc" / STAMP).write_text(" ".join(PACKAGES) + "\n")
    except BaseException:
        refuse_if_mounted(root)
        remove_root(root)
        raise


def ensure_root(root: Path) -> Path:
    """The ready root, made first when missing (a few minutes once)."""
    if not is_ready(root):
        print(f"making the GUI root in {root} (Debian {SUITE}, Blender, Xvfb; a few minutes once)", flush=True)
        make_root(root)
    return root
