"""housify-ai."""
