"""The GUI run's safety rules on a throwaway root (no Blender): the project shows up read-only, every way
out unmounts, nothing starts over a left mount, and a root is never deleted while something is mounted."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from gui import mounts, rootfs, runner

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root (CI and the GUI run are root)")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    return folder


@pytest.fixture
def root(tmp_path: Path):
    folder = tmp_path / "root"
    folder.mkdir()
    yield folder
    mounts.unmount_all(folder)  # a failing test must not leave its mounts behind


@needs_root
def test_bound_project_is_read_only_and_survives_a_refused_delete(project: Path, root: Path) -> None:
    with mounts.MountSet(root) as mounted:
        inside = mounted.bind_read_only(project)
        assert (inside / "precious.txt").read_text() == "keep me"
        with pytest.raises(OSError):
            (inside / "new.txt").write_text("x")
        with pytest.raises(OSError):
            (inside / "precious.txt").unlink()
        assert mounts.mounted_under(root) == [inside]
        with pytest.raises(mounts.MountError, match="still mounted"):
            mounts.refuse_if_mounted(root)
        with pytest.raises(mounts.MountError, match="still mounted"):
            mounts.remove_root(root)
        with pytest.raises(mounts.MountError, match="still mounted"):
            mounts.MountSet(root).__enter__()
    assert mounts.mounted_under(root) == []
    assert (project / "precious.txt").read_text() == "keep me"
    mounts.remove_root(root)
    assert not root.exists()
    assert (project / "precious.txt").read_text() == "keep me"


@needs_root
def test_an_error_inside_unmounts_nested_mounts(project: Path, root: Path) -> None:
    with pytest.raises(ZeroDivisionError), mounts.MountSet(root) as mounted:
        mounted.filesystem("tmpfs", root / "scratch")
        mounted.bind_read_only(project)
        mounted.filesystem("tmpfs", mounted.inside(project) / ".." / "deeper")
        assert len(mounts.mounted_under(root)) == 3
        1 / 0  # noqa: B018
    assert mounts.mounted_under(root) == []


@needs_root
def test_a_delete_behind_the_checks_back_cannot_empty_the_project(project: Path, root: Path) -> None:
    """``rm --one-file-system`` deletes through a bind mount of the same disk (measured: coreutils 9.1), so
    the read-only mount is what must stop a delete that bypasses the findmnt check."""
    mounts.MountSet(root).bind_read_only(project)
    with pytest.raises(mounts.MountError):
        mounts.remove_root(root)
    # what remove_root runs once its check has passed, run here as if a mount had appeared after the check
    done = subprocess.run(["rm", "-rf", "--one-file-system", str(root)], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert (project / "precious.txt").read_text() == "keep me"


@needs_root
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_unmounts_everything(project: Path, root: Path, sig: signal.Signals) -> None:
    child = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO / 'tools')!r})
        from pathlib import Path
        from gui import mounts
        root = Path({str(root)!r})
        with mounts.signals_unwind(), mounts.MountSet(root) as mounted:
            mounted.filesystem("tmpfs", root / "dev" / "shm")
            mounted.bind_read_only(Path({str(project)!r}))
            print("mounted", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "mounted"
    assert len(mounts.mounted_under(root)) == 2
    proc.send_signal(sig)
    proc.wait(timeout=30)
    time.sleep(0.1)
    assert mounts.mounted_under(root) == []
    assert (project / "precious.txt").read_text() == "keep me"


def test_mirror_is_the_one_apt_already_uses(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n")
    assert rootfs.apt_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] https://other.example/debian/ bookworm main\n")
    assert rootfs.apt_mirror(tmp_path) == "https://other.example/debian"
    (tmp_path / "sources.list").write_text("deb https://packages.cloud.google.com/apt cloud-sdk main\n")
    assert rootfs.apt_mirror(tmp_path) == rootfs.FALLBACK_MIRROR


@needs_root
@pytest.mark.skipif(shutil.which("debootstrap") is None, reason="debootstrap is not installed")
def test_no_mirror_means_a_plain_failure_and_no_half_made_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GUI run must fail, saying why, when the root cannot be made; it never passes without running."""
    monkeypatch.setattr(rootfs, "apt_mirror", lambda: "http://127.0.0.1:9/debian")  # nothing listens on port 9
    root = tmp_path / "gui-root"
    outcome = runner.run_gui(REPO, Path(sys.executable), root=root)
    assert len(outcome.problems) == 1
    assert "no GUI root, so no GUI test" in outcome.problems[0]
    assert "mirror" in outcome.problems[0]
    assert not root.exists()
    assert mounts.mounted_under(tmp_path) == []
