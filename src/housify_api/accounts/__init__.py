"""Accounts: the signed-in user's own profile, password, API keys, plan and usage (``/users/me``)."""
