"""The juliacall bridge: a clear message when Julia is missing (juliacall never imported), a live System where Julia is."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lascopf_assets.lib.network import matpower_data_dir, read_case
from lascopf_assets.lib.powersystems import export_system, map_feeders_to_buses
from lascopf_assets.lib.powersystems.julia_bridge import JuliaUnavailable, build_system, find_julia

PROBE = """
import json, sys
from lascopf_assets.lib.powersystems.julia_bridge import JuliaUnavailable, build_system
try:
    build_system(sys.argv[1])
    message = None
except JuliaUnavailable as exc:
    message = str(exc)
print(json.dumps({"message": message, "juliacall_imported": "juliacall" in sys.modules}))
"""


@pytest.fixture
def exported(tmp_path):
    import pandas as pd

    net = read_case("case14")
    loads = map_feeders_to_buses(net, pd.DataFrame(columns=["timestamp", "feeder", "junction", "phase", "kwh"]), "2023-01-01")
    return export_system(net, loads, tmp_path / "export", ac_source=matpower_data_dir() / "case14.m"), loads


def probe(folder, tmp_path, **env_changes):
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_JULIAPKG_EXE"}
    env.update(env_changes)
    out = subprocess.run([sys.executable, "-c", PROBE, str(folder)], env=env, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_missing_julia_says_what_is_missing_without_importing_juliacall(exported, tmp_path):
    empty = tmp_path / "empty_path"
    empty.mkdir()
    got = probe(exported[0], tmp_path, PATH=str(empty))
    assert got["juliacall_imported"] is False
    assert got["message"].startswith("Julia not found: no PYTHON_JULIAPKG_EXE set and no `julia` on PATH")


def test_a_bad_julia_setting_is_named(exported, tmp_path):
    got = probe(exported[0], tmp_path, PYTHON_JULIAPKG_EXE=str(tmp_path / "nowhere" / "julia"))
    assert got["juliacall_imported"] is False
    assert got["message"] == f"PYTHON_JULIAPKG_EXE={tmp_path / 'nowhere' / 'julia'} is not an executable file: point it at a Julia binary"


def test_missing_julia_in_process(monkeypatch, exported, tmp_path):
    monkeypatch.delenv("PYTHON_JULIAPKG_EXE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_julia() is None
    with pytest.raises(JuliaUnavailable, match="Julia not found"):
        build_system(exported[0])


def _julia_found() -> bool:
    try:
        return find_julia() is not None
    except JuliaUnavailable:
        return False


@pytest.mark.skipif(
    not _julia_found(), reason="julia not found (set PYTHON_JULIAPKG_EXE or put julia on PATH); live PowerSystems.jl test skipped"
)
def test_live_powersystems_system(exported):
    folder, loads = exported
    sys_ = build_system(folder)
    from juliacall import Main as jl

    load_names = jl.seval("s -> [PowerSystems.get_name(l) for l in PowerSystems.get_components(PowerSystems.ElectricLoad, s)]")
    names = sorted(str(n) for n in load_names(sys_))
    net = read_case("case14")
    load_buses = net.bus.loc[net.bus["pd_mw"] != 0, "bus"].tolist()
    assert names == sorted(f"bus{b}" for b in load_buses)
    values = jl.seval(
        "(s, n) -> PowerSystems.get_time_series_values(PowerSystems.SingleTimeSeries, "
        "PowerSystems.get_component(PowerSystems.ElectricLoad, s, n), \"max_active_power\")"
    )
    base = float(jl.PowerSystems.get_base_power(sys_))
    got = np.asarray(values(sys_, "bus3"), dtype=float) * base  # system base (p.u.) -> MW
    assert np.allclose(got, loads.matrix[net.bus_position([3])[0]])
