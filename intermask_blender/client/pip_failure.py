"""Why a pip run failed, in one line (stdlib only: no bpy, no torch).

When "Install Dependencies" fails, pip has printed dozens of lines and the last one rarely says why: a
source build that could not run ends with "This is an issue with the package mentioned above", an
unreachable index ends with "No matching distribution found". The preferences show the one line this
module extracts, so an animator can tell "numpy 1.26.4 has no wheel for Python 3.13" from "no network".
"""

from __future__ import annotations

import re

_NO_MATCH = re.compile(r"Could not find a version that satisfies the requirement (\S+) \(from versions: ([^)]*)\)")
_UNREACHABLE = re.compile(r"HTTPSConnection(?:Pool)?\(host='([^']+)'.*?\[Errno [-\d]+\] ([^)\]\"']+)")
#: "Failed to build 'x'" (pip's summary) or "╰─> x" under "Encountered error while generating package metadata"
_BUILD_FAILED = re.compile(r"Failed to build '?([\w.\-]+)'?|(?:╰─>|->) ([\w.\-]+)\s*$", re.MULTILINE)
_SDIST = re.compile(r"(?:Downloading|Using cached) (?:\S*/)?([\w.\-]+?)-(\d[\w.]*?)\.(?:tar\.gz|zip)\b")


def _normalise(name: str) -> str:
    """Distribution names compare case-insensitively with -, _ and . alike (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _versions(listed: str) -> str:
    """pip's "from versions" list, shortened to its first and last entries."""
    versions = [v.strip() for v in listed.split(",") if v.strip() and v.strip() != "none"]
    if not versions:
        return "none"
    return versions[0] if len(versions) == 1 else f"{versions[0]} … {versions[-1]}"


def _source_build(output: str, python: str) -> str | None:
    """A package pip had to build from source (no wheel for this Python) whose build failed."""
    failed = [next(group for group in match.groups() if group) for match in _BUILD_FAILED.finditer(output)]
    if not failed and "did not run successfully" not in output:
        return None
    sdists = {_normalise(name): (name, version) for name, version in _SDIST.findall(output)}
    package = next((sdists[_normalise(name)] for name in reversed(failed) if _normalise(name) in sdists), None)
    if package is None and sdists:
        package = list(sdists.values())[-1]
    what = f"{package[0]} {package[1]}" if package else (failed[-1] if failed else "a package")
    return f"{what} has no wheel for Python {python} and building it from source failed"


def failure_cause(output: str, python: str) -> str:
    """One line saying why the pip run that printed ``output`` failed, for a target ``python`` ("3.13").

    Checked from the most specific cause to the least: an index that could not be reached (pip then also
    says "no matching distribution", which would mislead), a source build, a requirement with no
    matching release; otherwise pip's last ERROR line, else the last line printed."""
    unreachable = _UNREACHABLE.search(output)
    if unreachable:
        return f"could not reach {unreachable.group(1)} ({unreachable.group(2).strip()}): check the network or proxy"
    built = _source_build(output, python)
    if built:
        return built
    no_match = _NO_MATCH.search(output)
    if no_match:
        requirement, listed = no_match.groups()
        return (f"no matching distribution for {requirement} on Python {python} "
                f"(versions for this platform: {_versions(listed)})")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR:", "Error:", "error:"))]
    return (errors or lines or ["pip failed without printing anything"])[-1]
