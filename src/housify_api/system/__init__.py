"""Operational routes (``/``, ``/health``, ``/ready``, ``/metrics``) and the offline API docs."""
