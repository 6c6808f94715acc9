"""housify-soap."""
