"""Root test configuration. Server fixtures (PostgreSQL, S3) are plugins listed here."""
