"""piccolo tables of housify-soap."""
