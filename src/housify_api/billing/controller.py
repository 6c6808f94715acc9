"""Billing routes: the user's plan, orders and data export; the provider's webhook; admins' levels and grants."""

from __future__ import annotations

import logging
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, patch, post, put
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, Parameter
from litestar.response import Stream
from litestar.types import ControllerRouterHandler

from housify_api.accounts.schemas import SubscriptionChange
from housify_api.auth.guards import requires_admin, requires_token
from housify_api.auth.identity import AuthUser
from housify_api.billing.admin import LevelAdmin
from housify_api.billing.export import export_filename, export_stream
from housify_api.billing.provider import WebhookRejected
from housify_api.billing.schemas import AuditOut, BillingInfo, GrantIn, LevelPatch, OrderOut, SubscriptionStatus
from housify_api.billing.service import BillingService
from housify_api.media.services import MediaServices
from housify_api.pagination import Page
from housify_api.plans.service import Level
from housify_api.schemas import Message
from housify_api.system.error_docs import documented

log = logging.getLogger("housify_api.billing")

Me = Request[AuthUser, Any, Any]
Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000, description="items to skip")]
#: Greenfield webhook bodies are a few hundred bytes; anything far larger is not one.
WEBHOOK_MAX_BYTES = 64 * 1024


@get("/billing", opt={"exclude_from_auth": True}, operation_id="billing_info", tags=["plans"])
async def billing_info(billing: NamedDependency[BillingService]) -> BillingInfo:
    """Whether paid levels can be bought on this server; when not, an administrator grants them."""
    if billing.provider is None:
        return BillingInfo(
            payments=False,
            provider=None,
            message="Payments are not set up on this server: paid plans are granted by an administrator.",
        )
    return BillingInfo(
        payments=True, provider=billing.provider.name, message="Paid plans are paid through BTCPay Server."
    )


@post(
    "/billing/btcpay/webhook",
    opt={"exclude_from_auth": True},
    operation_id="btcpay_webhook",
    tags=["plans"],
    status_code=200,
    request_max_body_size=WEBHOOK_MAX_BYTES,
    raises=[
        documented(401, "BTCPay-Sig missing or wrong"),
        documented(404, "payments are not configured on this server"),
        documented(413, "body larger than a Greenfield event"),
        documented(503, "the invoice could not be read back"),
    ],
)
async def btcpay_webhook(request: Request[Any, Any, Any], billing: NamedDependency[BillingService]) -> Message:
    """BTCPay Server's store webhook (Greenfield ``WebhookInvoice*Event``, signed in ``BTCPay-Sig``).

    Authenticated by the HMAC-SHA256 of the body; the invoice's state is then read back from BTCPay,
    so the event is only a hint. A redelivery or a replay changes nothing. 401 (logged) for an
    unsigned or wrongly signed call; 503 when the invoice cannot be read back (BTCPay retries)."""
    body = await request.body()
    try:
        outcome = await billing.handle_webhook(request.headers, body)
    except WebhookRejected as exc:
        client = request.client.host if request.client else "?"
        log.warning("billing: webhook from %s rejected: %s", client, exc)
        raise NotAuthorizedException("webhook signature invalid") from exc
    return Message(message=outcome)


class MyBillingController(Controller):
    """The caller's plan, orders and data. Changing the plan needs a bearer token (not an API key)."""

    path = "/users/me"
    tags = ["plans"]

    @get("/subscription", operation_id="get_subscription")
    async def get_subscription(self, request: Me, billing: NamedDependency[BillingService]) -> SubscriptionStatus:
        """The level now, its paid period, and the open order (poll it to follow a payment)."""
        return await billing.status(request.user.id)

    @put(
        "/subscription",
        operation_id="change_subscription",
        guards=[requires_token],
        raises=[
            documented(403, "a paid level while payments are off, or an API key"),
            documented(503, "the payment provider is unavailable"),
        ],
    )
    async def change_subscription(
        self, request: Me, data: JSONBody[SubscriptionChange], billing: NamedDependency[BillingService]
    ) -> SubscriptionStatus:
        """Choose a level from ``GET /subscriptions``. A paid level makes an order: pay at
        ``order.checkout_url``; the level changes when the invoice settles (refresh the access token
        then: it carries the level). A cheaper level during a paid period starts at its end."""
        return await billing.choose(request.user.id, data.subscription_level)

    @get("/orders", operation_id="list_my_orders")
    async def orders(
        self, request: Me, billing: NamedDependency[BillingService], limit: Limit = 20, offset: Offset = 0
    ) -> Page[OrderOut]:
        """The caller's orders, newest first: amounts, currency, Housify's quote, state and times."""
        return await billing.orders(request.user.id, limit=limit, offset=offset)

    @get("/orders/{order_id:uuid}", operation_id="get_my_order")
    async def order(self, request: Me, order_id: FromPath[UUID], billing: NamedDependency[BillingService]) -> OrderOut:
        return await billing.order(request.user.id, order_id)

    @get(
        "/export",
        operation_id="export_my_data",
        guards=[requires_token],
        # Not media_type= on the handler: Litestar sends error bodies in the handler's media type
        # (a 403 would be JSON labelled application/zip). The ZIP's type is set on the Stream.
        responses={
            200: ResponseSpec(
                bytes, media_type="application/zip", generate_examples=False, description="the export (a ZIP)"
            )
        },
    )
    async def export(self, request: Me, media: NamedDependency[MediaServices]) -> Stream:
        """Everything Housify holds about the caller (GDPR Art. 20): a ZIP streamed as it is written, with
        ``account.json`` (account, orders, jobs, ratings, API keys without secrets) and the pictures
        under ``pictures/``."""
        return Stream(
            export_stream(request.user.id, media.store),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{export_filename(request.user.id)}"'},
        )


class AdminBillingController(Controller):
    """Admins edit levels and grant them; every change is audited."""

    path = "/admin"
    tags = ["admin"]
    guards = [requires_admin]

    @patch("/levels/{name:str}", operation_id="admin_update_level", raises=[documented(404, "no such level")])
    async def update_level(
        self, request: Me, name: FromPath[str], data: JSONBody[LevelPatch], level_admin: NamedDependency[LevelAdmin]
    ) -> Level:
        """Change price, period or limits of a level. Limits apply at once to everyone on it; price and
        period to new orders. Audited (``GET /admin/audit``)."""
        return await level_admin.edit(request.user, name, data)

    @post("/users/{user_id:uuid}/grants", operation_id="admin_grant_level", status_code=200)
    async def grant(
        self,
        request: Me,
        user_id: FromPath[UUID],
        data: JSONBody[GrantIn],
        level_admin: NamedDependency[LevelAdmin],
        billing: NamedDependency[BillingService],
    ) -> SubscriptionStatus:
        """Give the user a level for ``days`` (default: the level's period) without payment; audited."""
        await level_admin.grant(request.user, user_id, data)
        return await billing.status(user_id, "changed", f"granted {data.level}")

    @get("/audit", operation_id="admin_billing_audit")
    async def audit(
        self,
        level_admin: NamedDependency[LevelAdmin],
        limit: Limit = 50,
        offset: Offset = 0,
        target: Annotated[str | None, Parameter(max_length=100, description="a level name or a user id")] = None,
    ) -> Page[AuditOut]:
        """Level edits and grants, newest first: who, when, before and after."""
        return await level_admin.audit(limit=limit, offset=offset, target=target)


ROUTES: list[ControllerRouterHandler] = [billing_info, btcpay_webhook, MyBillingController, AdminBillingController]
