"""Root test configuration. Server fixtures (a real PostgreSQL, an S3 server on loopback) are a plugin."""

pytest_plugins = ["lascopf_assets_tests.servers"]
