"""piccolo tables of housify-api."""
