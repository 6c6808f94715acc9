"""Data the jobs draw on: which level may run which task (``access``), and the room-type and style presets."""
