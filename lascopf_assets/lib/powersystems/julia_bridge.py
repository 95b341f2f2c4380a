"""Build a live ``PowerSystems.System`` from an export folder through juliacall.

Julia is looked for first (``PYTHON_JULIAPKG_EXE``, then ``julia`` on PATH);
only when one is found is ``juliacall`` imported, with juliapkg in offline
mode: ``import juliacall`` without a configured Julia would try to download
one. Nothing here imports juliacall at module import time.

PowerSystems.jl must be installed in the Julia project juliacall uses
(juliapkg's project, by default ``<virtualenv>/julia_env``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .export import CASE_FILE, POINTERS_FILE

JULIA_EXE_ENV = "PYTHON_JULIAPKG_EXE"
OFFLINE_ENV = "PYTHON_JULIAPKG_OFFLINE"
POWERSYSTEMS_UUID = "bcd98974-b02a-5e2f-9ee0-a103f5c450dd"

_BUILD = """
(case_path, pointers_path) -> begin
    sys = PowerSystems.System(case_path)
    PowerSystems.add_time_series!(sys, pointers_path)
    sys
end
"""


class JuliaUnavailable(RuntimeError):
    """Julia, juliacall or PowerSystems.jl is missing; the message says which and how to fix it."""


def find_julia() -> Path | None:
    """The Julia executable juliacall would use: ``$PYTHON_JULIAPKG_EXE``, else ``julia`` on PATH, else None.

    Raises :class:`JuliaUnavailable` when ``PYTHON_JULIAPKG_EXE`` is set but is not an executable file.
    """
    configured = os.environ.get(JULIA_EXE_ENV)
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise JuliaUnavailable(f"{JULIA_EXE_ENV}={configured} is not an executable file: point it at a Julia binary")
        return path
    found = shutil.which("julia")
    return Path(found) if found else None


def require_julia() -> Path:
    exe = find_julia()
    if exe is None:
        raise JuliaUnavailable(
            f"Julia not found: no {JULIA_EXE_ENV} set and no `julia` on PATH; install Julia 1.10+ with PowerSystems.jl "
            f"and set {JULIA_EXE_ENV} to its executable (juliacall is not imported without it)"
        )
    return exe


def _juliacall_main(exe: Path):
    os.environ[JULIA_EXE_ENV] = str(exe)
    os.environ.setdefault(OFFLINE_ENV, "yes")
    try:
        import juliacall  # noqa: PLC0415 - imported only once a Julia executable is known
    except ImportError as exc:
        raise JuliaUnavailable("juliacall is not installed: pip install 'lascopf_assets[julia]'") from exc
    except Exception as exc:  # juliapkg could not set up its Julia project (offline, missing PythonCall.jl, ...)
        raise JuliaUnavailable(f"juliacall could not start Julia {exe}: {exc}".replace("\n", " ")) from exc
    return juliacall.Main


def load_powersystems():
    """``(Main, PowerSystems)`` from juliacall; raises JuliaUnavailable naming what is missing."""
    main = _juliacall_main(require_julia())
    try:
        main.seval("import PowerSystems")
    except Exception as exc:
        raise JuliaUnavailable(
            "PowerSystems.jl is not installed in juliacall's Julia project: "
            f"python -c \"import juliapkg; juliapkg.add('PowerSystems', '{POWERSYSTEMS_UUID}'); juliapkg.resolve()\" "
            f"(with network access), or add it to that project with Pkg ({type(exc).__name__})"
        ) from exc
    return main, main.PowerSystems


def build_system(folder: str | os.PathLike):
    """A ``PowerSystems.System`` from an export folder: the MATPOWER case plus the load time series."""
    folder = Path(folder)
    for name in (CASE_FILE, POINTERS_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: export lacks {name}")
    main, _ = load_powersystems()
    return main.seval(_BUILD)(str(folder / CASE_FILE), str(folder / POINTERS_FILE))
