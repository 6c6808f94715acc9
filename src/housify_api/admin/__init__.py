"""Admin routes (``/admin``): user management and service-call analytics; every route needs role ``admin``."""
