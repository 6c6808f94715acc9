"""The Housify bundle: ``housify standalone`` runs the three services in one process."""
