"""Litestar plugin that adds the billing domain: its routes and the periodic sweep.

The sweep (:meth:`BillingService.sweep`: renewal invoices, period ends, expired orders read back)
runs in every API instance every ``HOUSIFY_BILLING_SWEEP_SECONDS``; each item is claimed by one
conditional write, so several instances do each thing once (docs/billing.md "Exactly once").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from housify_api.billing.controller import ROUTES
from housify_api.billing.service import BillingService

log = logging.getLogger("housify_api.billing")


class BillingPlugin(InitPluginProtocol):
    """Routes and background work of the billing domain (the service itself is ``services.billing``)."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(ROUTES)
        app_config.lifespan.append(self._lifespan)
        return app_config

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncIterator[None]:
        billing: BillingService = app.state.services.billing
        stop = asyncio.Event()
        task = asyncio.create_task(sweep_until(billing, stop), name="billing-sweep")
        try:
            yield
        finally:
            stop.set()
            await task


async def sweep_until(billing: BillingService, stop: asyncio.Event) -> None:
    """Sweep now and every ``sweep_seconds`` until ``stop``; a database or provider outage only logs."""
    while not stop.is_set():
        try:
            report = await billing.sweep()
            if report.renewals or report.ended:
                log.info(
                    "billing sweep: %d renewal invoice(s), %d period(s) ended", len(report.renewals), len(report.ended)
                )
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.error("billing sweep failed: %s: %s", type(exc).__name__, exc)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=billing.settings.sweep_seconds)
