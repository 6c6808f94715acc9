"""piccolo tables of housify-ai."""
