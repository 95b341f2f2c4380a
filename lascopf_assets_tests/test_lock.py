"""The hashed locks under requirements/: consistent with pyproject.toml, and what this venv runs."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from lascopf_assets_tests.lock_files import lock_script, pins

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"


def project_requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def test_lock_check_passes_on_the_repository():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "lock.py"), "check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("change", ["dependency", "extra", "build.in", "services.in"])
def test_lock_check_fails_when_pyproject_moves_on(tmp_path, change, capsys):
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REQUIREMENTS, tmp_path / "requirements")
    lock = lock_script()
    assert lock.check(tmp_path) == 0
    if change.endswith(".in"):
        with open(tmp_path / "requirements" / change, "a") as f:
            f.write("tomli\n")
    else:
        text = (tmp_path / "pyproject.toml").read_text()
        old, new = ('"pandas>=2.2,<4"', '"pandas>=2.3,<4"') if change == "dependency" else ('"pytest>=8,<10"', '"pytest>=9,<10"')
        assert old in text
        (tmp_path / "pyproject.toml").write_text(text.replace(old, new))
    assert lock.check(tmp_path) == 1
    assert "run `make lock`" in capsys.readouterr().out


def test_description_edits_do_not_invalidate_the_lock(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REQUIREMENTS, tmp_path / "requirements")
    text = (tmp_path / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(text.replace('version = "0.1.0"', 'version = "0.1.1"'))
    assert lock_script().check(tmp_path) == 0


@pytest.mark.parametrize("lock,extras", [("main.txt", ()), ("dev.txt", ("dev",)), ("julia.txt", ("julia",))])
def test_every_project_requirement_is_pinned_within_its_range(lock, extras):
    pinned = pins(lock)
    for req in project_requirements(*extras):
        if req.marker and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} missing from requirements/{lock}"
        assert req.specifier.contains(pinned[name], prereleases=True), f"{lock}: {name}=={pinned[name]} not in {req}"


def test_locks_agree_on_every_shared_package():
    main = pins("main.txt")
    for lock in ("dev.txt", "julia.txt", "services.txt"):
        other = pins(lock)
        differ = {n: (v, other[n]) for n, v in main.items() if n in other and other[n] != v}
        assert not differ, f"{lock} differs from main.txt: {differ}"


def test_locks_hold_hashes_and_no_index_addresses():
    for lock in ("main.txt", "dev.txt", "julia.txt", "services.txt"):
        text = (REQUIREMENTS / lock).read_text()
        assert "--hash=sha256:" in text
        assert "://" not in text and "--index-url" not in text and "--extra-index-url" not in text


def test_this_environment_runs_the_locked_versions():
    """`make test` installed from requirements/dev.txt: every locked package is here at its pinned version."""
    wrong = {}
    for name, version in pins("dev.txt").items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wrong[name] = (version, "not installed")
            continue
        if Version(installed) != Version(version):
            wrong[name] = (version, installed)
    assert not wrong, f"installed versions differ from requirements/dev.txt (pinned, installed): {wrong}"
