"""The lock files under requirements/: refresh them (``make lock``) or check they match pyproject.toml.

Three hashed, fully pinned requirement sets, each installed with ``pip install --require-hashes``:

| file | for | resolved from |
|---|---|---|
| ``requirements/main.txt`` | ``make demo``, ``make dev`` | the project's dependencies + ``requirements/build.in`` |
| ``requirements/dev.txt`` | ``make test`` | the same + the ``dev`` extra, constrained by main.txt |
| ``requirements/julia.txt`` | the optional juliacall bridge | the same + the ``julia`` extra, constrained by main.txt |
| ``requirements/services.txt`` | the Dagster webserver/daemon image | ``requirements/services.in``, constrained by main.txt |

Constraining the others by main.txt keeps every shared package at one version across them all.
The files hold names, versions and hashes only (no index addresses). ``requirements/inputs.sha256``
records a digest of what they were resolved from: ``check`` (stdlib only, runs before any install)
fails when pyproject.toml's dependency lists or a ``.in`` file changed since the last ``make lock``.

    python scripts/lock.py check
    python scripts/lock.py compile --uv PATH_TO_UV [--upgrade]
    python scripts/lock.py drift FREEZE.txt     # what `pip freeze` of a newest-versions venv differs in
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
BUILD_IN = REQUIREMENTS / "build.in"
DIGEST_FILE = REQUIREMENTS / "inputs.sha256"
PYTHON_VERSION = "3.11"  # the oldest Python pyproject.toml allows; the universal lock covers the rest

SERVICES_IN = REQUIREMENTS / "services.in"
# lock file -> extras it adds to the project's dependencies
LOCKS: dict[str, tuple[str, ...]] = {"main.txt": (), "dev.txt": ("dev",), "julia.txt": ("julia",)}
# lock files resolved from a .in file alone (constrained by main.txt)
STANDALONE_LOCKS: dict[str, Path] = {"services.txt": SERVICES_IN}


def lock_inputs_digest(root: Path = ROOT) -> str:
    """sha256 of what the locks are resolved from: pyproject's dependency lists and build.in."""
    project = tomllib.loads((root / "pyproject.toml").read_text())
    inputs = {
        "requires-python": project["project"].get("requires-python"),
        "dependencies": project["project"].get("dependencies", []),
        "optional-dependencies": project["project"].get("optional-dependencies", {}),
        "build-system": project.get("build-system", {}).get("requires", []),
        "build.in": (root / "requirements" / BUILD_IN.name).read_text(),
        "services.in": (root / "requirements" / SERVICES_IN.name).read_text(),
        "locks": {name: list(extras) for name, extras in LOCKS.items()},
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def check(root: Path = ROOT) -> int:
    """0 when every lock exists and was resolved from today's pyproject.toml; else 1 with the reason."""
    requirements = root / "requirements"
    digest_file = requirements / DIGEST_FILE.name
    missing = [name for name in [*LOCKS, *STANDALONE_LOCKS] if not (requirements / name).is_file()]
    if missing or not digest_file.is_file():
        print(f"lock check: missing {', '.join(missing) or digest_file.name} under requirements/; run `make lock`")
        return 1
    recorded = digest_file.read_text().split()[0]
    if recorded != lock_inputs_digest(root):
        print(
            "lock check: pyproject.toml's dependencies (or requirements/build.in) changed since the lock "
            "was made; run `make lock` and commit requirements/"
        )
        return 1
    print("lock check: requirements/ matches pyproject.toml")
    return 0


def compile_locks(uv: str, upgrade: bool) -> None:
    """Resolve the locks with uv (existing pins are kept unless ``upgrade``) and record the digest."""
    common = ["pip", "compile", "--universal", "--python-version", PYTHON_VERSION, "--generate-hashes", "--quiet"]
    if upgrade:
        common.append("--upgrade")
    for name, extras in LOCKS.items():
        command = [uv, *common, "pyproject.toml", str(BUILD_IN.relative_to(ROOT))]
        for extra in extras:
            command += ["--extra", extra]
        if name != "main.txt":
            command += ["--constraint", "requirements/main.txt"]
        command += ["--output-file", f"requirements/{name}"]
        print("+", " ".join(command[1:]), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)
    for name, source in STANDALONE_LOCKS.items():
        command = [uv, *common, str(source.relative_to(ROOT)), "--constraint", "requirements/main.txt",
                   "--output-file", f"requirements/{name}"]
        print("+", " ".join(command[1:]), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)
    DIGEST_FILE.write_text(f"{lock_inputs_digest()}  pyproject.toml dependencies + requirements/build.in\n")


# one pinned line of a lock: name==version, optionally "; marker", then the line continuation
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?:\s*;\s*([^\\\n]+?))?\s*\\?$", re.MULTILINE)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions(text: str, this_environment: bool = False) -> dict[str, set[str]]:
    """name -> versions pinned in a requirements text (a universal lock may pin two under markers).

    ``this_environment``: keep only the pins whose environment marker holds for the running
    interpreter (needs ``packaging``, which every environment the project installs has).
    """
    if this_environment:
        from packaging.markers import Marker
    pins: dict[str, set[str]] = {}
    for name, version, marker in PIN.findall(text):
        if this_environment and marker and not Marker(marker).evaluate():
            continue
        pins.setdefault(_canonical(name), set()).add(version)
    return pins


def drift(freeze_file: Path) -> int:
    """Print the packages whose newest allowed version differs from requirements/dev.txt; 1 if any.

    Pins whose environment markers do not hold here (Windows-only packages, another Python) are
    left out; run it with the interpreter of the environment that ``freeze_file`` describes.
    """
    locked = pinned_versions((REQUIREMENTS / "dev.txt").read_text(), this_environment=True)
    latest = pinned_versions(freeze_file.read_text())
    rows = [
        (name, ", ".join(sorted(locked.get(name, {"-"}))), ", ".join(sorted(versions)))
        for name, versions in sorted(latest.items())
        if not versions & locked.get(name, set())
    ]
    rows += [(name, ", ".join(sorted(v)), "-") for name, v in sorted(locked.items()) if name not in latest]
    for name, old, new in rows:
        print(f"drift: {name}: locked {old}, newest {new}")
    print(f"drift: {len(rows)} package(s) differ from requirements/dev.txt")
    return 1 if rows else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="fail when the locks do not match pyproject.toml")
    refresh = sub.add_parser("compile", help="re-resolve the locks with uv")
    refresh.add_argument("--uv", required=True, help="path of the uv executable")
    refresh.add_argument("--upgrade", action="store_true", help="take the newest versions the ranges allow")
    newest = sub.add_parser("drift", help="compare a `pip freeze` with requirements/dev.txt")
    newest.add_argument("freeze", type=Path)
    args = parser.parse_args(argv)
    if args.command == "check":
        return check()
    if args.command == "drift":
        return drift(args.freeze)
    compile_locks(args.uv, args.upgrade)
    return check()


if __name__ == "__main__":
    sys.exit(main())
