"""Transmission network data: readers (MATPOWER, PowerLASCOPF legacy), DC model, PTDF/LODF."""

from .case_source import read_case
from .dc_model import DcModel, build_dc_model
from .legacy_reader import is_legacy_prefix, legacy_paths, read_legacy_case
from .matpower_changes import area_scaled_loads, read_area_load_scenarios, read_contingency_table
from .matpower_reader import matpower_data_dir, read_matpower_case
from .model import Network, NetworkDataError, validate_network
from .sensitivities import OutageSensitivities, branch_ptdf, lodf, ptdf

__all__ = [
    "DcModel", "Network", "NetworkDataError", "OutageSensitivities", "area_scaled_loads", "branch_ptdf",
    "build_dc_model", "is_legacy_prefix", "legacy_paths", "lodf", "matpower_data_dir", "ptdf",
    "read_area_load_scenarios", "read_case", "read_contingency_table", "read_legacy_case", "read_matpower_case",
    "validate_network",
]
