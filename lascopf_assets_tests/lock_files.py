"""The lock files under requirements/, read through scripts/lock.py (the one parser of them)."""

import importlib.util
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@cache
def lock_script():
    """scripts/lock.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("lock_script", ROOT / "scripts" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins(lock: str) -> dict[str, str]:
    """Package -> version pinned for this interpreter (markers evaluated) in requirements/<lock>."""
    pinned = lock_script().pinned_versions((ROOT / "requirements" / lock).read_text(), this_environment=True)
    assert all(len(v) == 1 for v in pinned.values()), f"{lock}: two pins of one package apply here"
    return {name: next(iter(versions)) for name, versions in pinned.items()}
