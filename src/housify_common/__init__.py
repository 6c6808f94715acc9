"""Infrastructure shared by the three Housify services.

Only plumbing lives here (settings from the environment, the piccolo engine,
the Redis client); nothing about users, jobs or prices. ``housify_api``,
``housify_ai`` and ``housify_soap`` may all import it; it imports none of them.
"""
