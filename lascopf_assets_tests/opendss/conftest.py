"""Fixtures of the OpenDSS tests: a tiny feeder written here, and the real feeders of ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

# the tiny feeder: a stiff 11 kV source, an ideal-ish 11/0.4 kV wye-grounded transformer, one 3-phase
# line of R = 0.1 ohm per phase (no X, no C, ideal ground return) and two unity-PF constant-power loads
# on phase A at its far end, on a 4-hour shape
R_LINE = 0.1
V_LN = 400 / 3**0.5
LOAD_KW = {"load1": 5.0, "load2": 3.0}
MULT = (1.0, 0.5, 0.25, 1.0)
TINY_MASTER = f"""
Clear
Set DefaultBaseFrequency=50
New Circuit.tiny basekv=11 pu=1.0 phases=3 bus1=sourcebus R1=0 X1=0.000001 R0=0 X0=0.000001
New Transformer.tx phases=3 windings=2 buses=[sourcebus lv] conns=[delta wye] kvs=[11 0.4] kvas=[100000 100000]
~ XHL=0.0001 %loadloss=0 %noloadloss=0 %imag=0
New Linecode.r01 nphases=3 units=km rmatrix=[{R_LINE} | 0 {R_LINE} | 0 0 {R_LINE}] xmatrix=[0 | 0 0 | 0 0 0] cmatrix=[0 | 0 0 | 0 0 0]
New Line.l1 bus1=lv bus2=far linecode=r01 length=1 units=km
New Loadshape.s npts=4 interval=1 mult=({' '.join(str(m) for m in MULT)})
New Load.load1 phases=1 bus1=far.1 kV={V_LN / 1000:.6f} kW={LOAD_KW['load1']} PF=1 model=1 vminpu=0.5 vmaxpu=1.5 yearly=s
New Load.load2 phases=1 bus1=far.1 kV={V_LN / 1000:.6f} kW={LOAD_KW['load2']} PF=1 model=1 vminpu=0.5 vmaxpu=1.5 yearly=s
Set voltagebases=[11 0.4]
Calcvoltagebases
"""


@pytest.fixture
def tiny_master(tmp_path) -> Path:
    path = tmp_path / "tiny" / "Master.dss"
    path.parent.mkdir()
    path.write_text(TINY_MASTER)
    return path


def shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the real feeders are expected in ../shared/data beside the project (see its README)")
    return path
