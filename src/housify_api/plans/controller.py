"""``GET /subscriptions``: the levels, priced in USD or converted to another currency through housify-soap."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import Parameter

from housify_api.plans.service import PlanService, PricedLevel
from housify_api.system.error_docs import documented


@get(
    "/subscriptions",
    opt={"exclude_from_auth": True},
    operation_id="list_subscriptions",
    tags=["plans"],
    raises=[documented(422, "currency: not quoted by the rates service")],
)
async def subscriptions(
    plans: NamedDependency[PlanService],
    currency: Annotated[
        str, Parameter(description="USD (default) or an asset housify-soap quotes, e.g. BTC", max_length=10)
    ] = "USD",
) -> list[PricedLevel]:
    """The subscription levels. With ``currency`` other than USD each price is converted by housify-soap
    (``HOUSIFY_SOAP_WSDL_URL``): 422 naming ``currency`` when it is unknown there, 503 when it cannot quote."""
    return await plans.priced(currency)
