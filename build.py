#!/usr/bin/env python3
"""Build the Blender extension zip: ``python build.py [--out-dir dist] [--no-validate]``.

The zip's root is the add-on package (``intermask_blender/``'s files) plus ``blender_manifest.toml``;
``vendor_models`` is nested inside it (the add-on reaches it through ``seam.py``) with only the default
checkpoint and without tests or caches. The result is checked with Blender's own extension validator,
which ships inside the ``bpy`` package (``bl_pkg/cli/blender_ext.py``), so a bad manifest or layout
fails here and not on an animator's machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MANIFEST = ROOT / "blender_manifest.toml"
SKIP_DIRS = {"__pycache__", "tests", ".mypy_cache", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".blend1"}
KEPT_CHECKPOINT = "default"
ZIP_DATE = (2025, 1, 1, 0, 0, 0)  # a fixed timestamp: the same sources give the same zip


class BuildError(RuntimeError):
    """The sources or the built zip are not a valid extension; the message says what is wrong."""


def manifest_version() -> str:
    """The extension version, which must equal the Python project's version."""
    version = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))["version"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    if version != project:
        raise BuildError(f"blender_manifest.toml has version {version} but pyproject.toml has {project}")
    return str(version)


def _wanted(relative: Path) -> bool:
    parts = relative.parts
    if any(part in SKIP_DIRS or part.startswith(".") for part in parts) or relative.suffix in SKIP_SUFFIXES:
        return False
    if len(parts) > 2 and parts[0] == "vendor_models" and parts[1] == "checkpoints":
        return parts[2] == KEPT_CHECKPOINT
    return True


def collect() -> list[tuple[Path, str]]:
    """(source file, name in the zip) for everything the extension holds, sorted by zip name."""
    files = [(MANIFEST, MANIFEST.name)]
    for path in (ROOT / "intermask_blender").rglob("*"):
        relative = path.relative_to(ROOT / "intermask_blender")
        if path.is_file() and _wanted(relative):
            files.append((path, relative.as_posix()))
    for path in (ROOT / "vendor_models").rglob("*"):
        relative = path.relative_to(ROOT)
        if path.is_file() and _wanted(relative):
            files.append((path, relative.as_posix()))
    license_file = ROOT / "LICENSE"
    if license_file.is_file():
        files.append((license_file, "LICENSE"))
    return sorted(files, key=lambda item: item[1])


def build(out_dir: Path) -> Path:
    """Write ``intermask_blender-<version>.zip`` into ``out_dir`` and return its path."""
    version = manifest_version()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"intermask_blender-{version}.zip"
    partial = target.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for source, name in collect():
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, source.read_bytes())
    partial.replace(target)
    return target


def validator() -> Path:
    """Blender's ``blender_ext.py`` inside the installed bpy package (found without importing bpy)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("the bpy package is not installed, so Blender's extension validator is missing")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return found[-1]
    raise BuildError("bl_pkg/cli/blender_ext.py not found inside the bpy package")


def validate(archive: Path) -> str:
    """Run Blender's validator on the zip; returns its output or raises :class:`BuildError`."""
    done = subprocess.run([sys.executable, str(validator()), "validate", str(archive)],
                          capture_output=True, text=True, timeout=300)
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0 or not output.startswith("Success"):
        raise BuildError(f"Blender's validator rejected {archive.name}:\n{output}")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "dist")
    parser.add_argument("--no-validate", action="store_true", help="skip Blender's validator")
    args = parser.parse_args(argv)
    try:
        archive = build(args.out_dir)
        report = "" if args.no_validate else validate(archive)
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    size = archive.stat().st_size / 1e6
    print(f"{archive} ({size:.1f} MB){': ' + report if report else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
