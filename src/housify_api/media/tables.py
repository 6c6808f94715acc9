"""piccolo tables for images, jobs and ratings."""
