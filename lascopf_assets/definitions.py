"""Entry point: every definition under ``lascopf_assets/defs`` plus the profile's resources.

``dagster code-server start -m lascopf_assets.definitions`` and ``dagster dev -w workspace.yaml``
load this module.
"""

from pathlib import Path

import dagster as dg

from lascopf_assets.defs.resources import build_resources


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(resources=build_resources()),
    )
