"""The comparison app of ``bench/api_vs_fastapi.py``: the same three routes, written the
way FastAPI starter projects write them (the "FastAPI + JWT + SQL" stack).

- ``GET /health``: a constant JSON object.
- ``GET /auth/whoami``: ``OAuth2PasswordBearer`` + an ``async def`` dependency that runs
  ``jwt.decode`` (PyJWT) on every request, returning the claims as a pydantic model.
- ``GET /users/me``: the same dependency, then one ``SELECT`` by primary key through an
  asyncpg pool (created in the lifespan), returned through a pydantic ``response_model``.

It verifies Housify's own access tokens (the same ES512 key, issuer and audience, so
both apps check the same signature and claims), or HS256 tokens signed with
``BASELINE_JWT_SECRET`` when ``BASELINE_JWT_ALGORITHM=HS256``. Configuration
(environment): ``BASELINE_DATABASE_URL`` (a ``postgresql://`` URL), ``BASELINE_JWT_ALGORITHM``
(``ES512`` or ``HS256``), ``BASELINE_JWT_PUBLIC_KEY_FILE`` (PEM, ES512),
``BASELINE_JWT_SECRET`` (HS256), ``BASELINE_JWT_ISSUER`` / ``BASELINE_JWT_AUDIENCE``.

Run: ``uvicorn baseline_fastapi:app`` from ``bench/`` (needs the ``bench`` extra).
Benchmark-only code: it is not part of Housify.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated
from uuid import UUID

import asyncpg
import jwt
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel

ALGORITHM = os.environ.get("BASELINE_JWT_ALGORITHM", "ES512")
if ALGORITHM == "HS256":
    VERIFY_KEY: str | bytes = os.environ["BASELINE_JWT_SECRET"]
else:
    with open(os.environ["BASELINE_JWT_PUBLIC_KEY_FILE"], "rb") as handle:
        VERIFY_KEY = handle.read()
ISSUER = os.environ.get("BASELINE_JWT_ISSUER") or None
AUDIENCE = os.environ.get("BASELINE_JWT_AUDIENCE") or None

pool: asyncpg.Pool | None = None
profile_sql = ""


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    global pool, profile_sql
    pool = await asyncpg.create_pool(os.environ["BASELINE_DATABASE_URL"], min_size=2, max_size=10)
    # The profile columns this database has (an older Housify schema lacks the sign-up fields).
    present = {
        r["column_name"]
        for r in await pool.fetch("SELECT column_name FROM information_schema.columns WHERE table_name = 'users'")
    }
    profile_sql = f"SELECT {', '.join(c for c in UserOut.model_fields if c in present)} FROM users WHERE id = $1"
    try:
        yield
    finally:
        await pool.close()


app = FastAPI(lifespan=lifespan)
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token")


class Health(BaseModel):
    status: str


class Claims(BaseModel):
    sub: str
    email: str | None = None
    role: str | None = None
    tier: str | None = None


class UserOut(BaseModel):
    """The same profile fields as Housify's ``GET /users/me``."""

    id: UUID
    email: str
    full_name: str
    first_name: str = ""
    last_name: str = ""
    gender: int | None = None
    phone: str | None = None
    birth_date: date | None = None
    country: str | None = None
    role: str
    is_active: bool
    email_verified: bool
    subscription_level: str
    services: list[str]
    created_at: datetime
    last_login_at: datetime | None


async def current_claims(token: Annotated[str, Depends(oauth2_scheme)]) -> Claims:
    try:
        payload = jwt.decode(token, VERIFY_KEY, algorithms=[ALGORITHM], issuer=ISSUER, audience=AUDIENCE)
    except jwt.InvalidTokenError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Could not validate credentials", headers={"WWW-Authenticate": "Bearer"}
        ) from exc
    return Claims(**payload)


@app.get("/health", response_model=Health)
async def health() -> Health:
    return Health(status="ok")


@app.get("/auth/whoami", response_model=Claims)
async def whoami(claims: Annotated[Claims, Depends(current_claims)]) -> Claims:
    return claims


@app.get("/users/me", response_model=UserOut)
async def me(claims: Annotated[Claims, Depends(current_claims)]) -> UserOut:
    assert pool is not None
    row = await pool.fetchrow(profile_sql, UUID(claims.sub))
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "User not found")
    data = dict(row)
    data["services"] = [name for name in data["services"].split(",") if name]
    return UserOut(**data)
