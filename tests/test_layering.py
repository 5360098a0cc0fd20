"""The layering rule, checked by really importing every module in a clean interpreter.

The add-on runs inside Blender's Python, which has no torch, and the worker runs in an environment that
must not load Blender; a grep for ``import torch`` would miss transitive imports, so each test lists a
package's module files, imports every one of them in a fresh subprocess and reports the first module
that pulled in the forbidden package.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Runs in the child: import the named modules in order and report the first one after which FORBIDDEN
# (or a submodule of it) is in sys.modules, plus any module that failed to import.
_CHILD = r"""
import importlib, json, sys, traceback
forbidden, names = sys.argv[1], sys.argv[2:]
report = {"offender": None, "errors": {}}
for name in names:
    try:
        importlib.import_module(name)
    except Exception:
        report["errors"][name] = traceback.format_exc(limit=-3)
        continue
    if report["offender"] is None and any(m == forbidden or m.startswith(forbidden + ".") for m in sys.modules):
        report["offender"] = name
print(json.dumps(report))
"""


def _clean_env(path: Path) -> dict[str, str]:
    """A minimal environment, so nothing from the test runner's process leaks into the child."""
    return {"PYTHONPATH": str(path), "PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "OMP_NUM_THREADS": "1"}


def _import_all(root: Path, modules: list[str], forbidden: str) -> dict:
    """Import ``modules`` (in order) in a fresh interpreter with ``root`` on the path; return its report."""
    done = subprocess.run([sys.executable, "-c", _CHILD, forbidden, *modules], cwd=root, env=_clean_env(root),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _modules_on_disk(root: Path, package: str) -> list[str]:
    """Every module file of ``package`` under ``root`` as a dotted name, except ``__main__`` (it runs the CLI).

    Walking the files rather than ``pkgutil.walk_packages`` also reaches folders that lack an ``__init__.py``.
    """
    found = set()
    for path in (root / package).rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(found)


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("intermask_blender", "torch"), ("vendor_models", "bpy")],
)
def test_package_never_imports_the_other_halfs_runtime(package: str, forbidden: str) -> None:
    modules = _modules_on_disk(REPO, package)
    assert len(modules) >= 3
    report = _import_all(REPO, modules, forbidden)
    assert not report["errors"], "modules that fail to import:\n" + "\n".join(
        f"{name}:\n{tb}" for name, tb in report["errors"].items()
    )
    assert report["offender"] is None, f"importing {report['offender']} put {forbidden!r} in sys.modules"


@pytest.mark.parametrize("package", ["intermask_blender", "vendor_models"])
def test_every_package_folder_has_an_init(package: str) -> None:
    """setuptools' ``packages.find`` skips folders without ``__init__.py``: their modules would be missing
    from the installed project and from the extension zip."""
    folders = {p.parent for p in (REPO / package).rglob("*.py")}
    bare = sorted(str(f.relative_to(REPO)) for f in folders if not (f / "__init__.py").is_file())
    assert not bare, f"package folders without __init__.py: {bare}"


@pytest.mark.parametrize("forbidden", ["torch", "bpy", "vendor_models.models", "vendor_models.generation"])
def test_the_shared_motion_package_needs_only_numpy(forbidden: str) -> None:
    """The add-on imports ``vendor_models.motion`` (every module of it, found on disk) inside Blender's
    Python, where torch does not exist: it may pull in neither half's runtime nor the model code."""
    modules = [m for m in _modules_on_disk(REPO, "vendor_models") if m.startswith("vendor_models.motion")]
    assert "vendor_models.motion.protocol" in modules and len(modules) >= 8
    report = _import_all(REPO, [*modules, "intermask_blender.seam"], forbidden)
    assert not report["errors"], report["errors"]
    assert report["offender"] is None, f"importing {report['offender']} put {forbidden!r} in sys.modules"


def test_the_seam_exports_the_whole_motion_package() -> None:
    """The seam re-exports exactly the motion package's modules, so README and code cannot disagree."""
    on_disk = {m.rsplit(".", 1)[1] for m in _modules_on_disk(REPO, "vendor_models")
               if m.startswith("vendor_models.motion.")}
    from intermask_blender import seam

    assert set(seam.__all__) == on_disk - {"features"}, "features (the model's 262-D input) is not the add-on's"


def test_the_checker_detects_a_forbidden_import(tmp_path: Path) -> None:
    """Guard against a checker that cannot fail: a throwaway package that imports csv must be caught."""
    pkg = tmp_path / "leaky_pkg"
    (pkg / "inner").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "inner" / "__init__.py").write_text("")
    (pkg / "inner" / "uses_csv.py").write_text("import csv\n")
    modules = _modules_on_disk(tmp_path, "leaky_pkg")
    assert modules == ["leaky_pkg", "leaky_pkg.inner", "leaky_pkg.inner.uses_csv"]
    assert _import_all(tmp_path, modules, "csv")["offender"] == "leaky_pkg.inner.uses_csv"
