"""housify-api."""
