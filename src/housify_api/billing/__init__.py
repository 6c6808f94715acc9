"""Paid levels (docs/billing.md): orders, the payment provider, webhooks, periods and renewals, grants.

A paid level starts only when the provider reports its invoice settled (a
verified webhook, re-checked against the provider) or an admin grants it; it
runs for the level's ``period_days``, renews by a new invoice made ahead of the
end, and falls back to the free level at the end. Modules:

* ``provider``: the interface a payment provider implements; ``btcpay``: BTCPay Server's Greenfield API.
* ``service``: :class:`~housify_api.billing.service.BillingService`, every state change of orders and periods.
* ``admin``: admins' level edits and grants, audited.
* ``export``: the user's data as a streamed ZIP (GDPR Art. 20).
* ``controller``: the routes; ``plugin``: routes and the periodic sweep in the app.

This package's ``__init__`` imports nothing, so the settings module can import
``housify_api.billing.settings`` without a cycle.
"""
