"""lascopf_assets: from raw meter/SCADA files to phase-balancing and LASCOPF results."""

__version__ = "0.1.0"
