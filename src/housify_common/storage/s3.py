"""Images in an S3-compatible bucket (Garage, SeaweedFS, MinIO, AWS S3), on obstore.

obstore (Python bindings of the Rust ``object_store`` crate, maintained by
Development Seed) gives native async calls, multipart uploads from an async
iterator, streamed reads, SigV4 presigned URLs and a custom endpoint with
path-style requests, in one wheel with no Python dependencies; docs/storage.md
compares it with aiobotocore.

Requests are path-style (``<endpoint>/<bucket>/<key>``), which Garage and
SeaweedFS need and AWS still accepts; plain ``http://`` endpoints are allowed
(an S3 server on the LAN). Objects carry the ``Content-Type`` of their
extension, so nginx passes the right type on when it proxies a presigned GET.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlsplit

import obstore
from obstore.store import S3Store as _ObS3Store

from housify_common.storage.base import (
    PART_BYTES,
    READ_CHUNK_BYTES,
    ObjectInfo,
    ObjectStream,
    StorageUnavailable,
    check_key,
    content_type_of,
)

log = logging.getLogger("housify.storage")

T = TypeVar("T")

#: Bucket names: 3-63 characters of a-z, 0-9, '.', '-' (AWS S3 User Guide, "General purpose bucket naming rules").
BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class S3Store:
    """``S3Store(bucket, prefix="", endpoint_url="", region=..., access_key_id="", secret_access_key="", ...)``.

    ``prefix`` (a valid key, no slashes at either end) is put before every key.
    Empty credentials fall back to the AWS default chain (``AWS_*`` variables,
    instance profile). ``presign_seconds`` is the life of the URLs made for
    :meth:`accel_redirect`; ``timeout_seconds`` bounds one request, and a
    failed request is retried ``max_retries`` times within ``timeout_seconds``.

    Raises:
        ValueError: a bad bucket name or prefix.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        presign_seconds: int = 60,
        timeout_seconds: float = 10.0,
        max_retries: int = 2,
    ) -> None:
        if not BUCKET_PATTERN.match(bucket) or ".." in bucket:
            raise ValueError(f"invalid bucket name {bucket!r}: 3-63 characters of a-z, 0-9, '.', '-'")
        prefix = prefix.strip("/")
        if prefix:
            check_key(prefix)
        self.bucket, self.prefix = bucket, prefix
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self.endpoint_url = endpoint_url.rstrip("/")
        self.region = region
        self._credentials = (access_key_id, secret_access_key) if access_key_id and secret_access_key else None
        self.presign = dt.timedelta(seconds=presign_seconds)
        config: dict[str, object] = {"region": region, "virtual_hosted_style_request": False}
        if self.endpoint_url:
            config["endpoint"] = self.endpoint_url
        if access_key_id or secret_access_key:
            config.update(access_key_id=access_key_id, secret_access_key=secret_access_key)
        timeout = dt.timedelta(seconds=timeout_seconds)
        self._store = _ObS3Store(
            bucket,
            prefix=prefix or None,
            config=config,  # type: ignore[arg-type]  # S3Config is a TypedDict of these keys
            client_options={
                "allow_http": self.endpoint_url.startswith("http://"),
                "timeout": timeout,
                "connect_timeout": dt.timedelta(seconds=min(3.0, timeout_seconds)),
            },
            retry_config={"max_retries": max_retries, "retry_timeout": timeout},
        )

    def __repr__(self) -> str:
        return f"S3Store({self.url!r}, endpoint_url={self.endpoint_url!r})"

    def local_path(self, key: str) -> Path | None:
        check_key(key)
        return None

    async def _call(self, what: str, key: str, call: Awaitable[T]) -> T:
        """``await call``; a missing object stays ``FileNotFoundError``, any other failure is :class:`StorageUnavailable`."""
        try:
            return await call
        except (FileNotFoundError, StopAsyncIteration):  # obstore's NotFoundError is the built-in FileNotFoundError
            raise
        except Exception as exc:
            raise StorageUnavailable(f"{self.url}: {what} {key!r} failed: {_first_line(exc)}") from exc

    async def put(self, key: str, data: bytes) -> int:
        check_key(key)
        await self._call(
            "put", key, obstore.put_async(self._store, key, data, attributes={"Content-Type": content_type_of(key)})
        )
        return len(data)

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        check_key(key)
        size = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal size
            async for chunk in chunks:
                size += len(chunk)
                yield chunk

        await self._call(
            "put",
            key,
            obstore.put_async(
                self._store,
                key,
                counted(),
                attributes={"Content-Type": content_type_of(key)},
                use_multipart=True,
                chunk_size=PART_BYTES,
                max_concurrency=4,
            ),
        )
        return size

    async def get(self, key: str) -> bytes:
        check_key(key)
        result = await self._call("get", key, obstore.get_async(self._store, key))
        return bytes(await self._call("get", key, result.bytes_async()))

    async def get_stream(self, key: str, chunk_size: int = READ_CHUNK_BYTES) -> ObjectStream:
        check_key(key)
        result = await self._call("get", key, obstore.get_async(self._store, key))
        return ObjectStream(
            size=int(result.meta["size"]), chunks=self._chunks(key, result.stream(min_chunk_size=chunk_size))
        )

    async def _chunks(self, key: str, stream: AsyncIterator[object]) -> AsyncIterator[bytes]:
        iterator = aiter(stream)
        while True:
            try:
                chunk = await self._call("get", key, anext(iterator))
            except StopAsyncIteration:
                return
            yield bytes(chunk)  # type: ignore[call-overload]  # obstore.Bytes has the buffer protocol

    async def stat(self, key: str) -> int | None:
        check_key(key)
        try:
            meta = await self._call("head", key, obstore.head_async(self._store, key))
        except FileNotFoundError:
            return None
        return int(meta["size"])

    async def delete(self, key: str) -> None:
        check_key(key)
        with contextlib.suppress(FileNotFoundError):  # S3 answers 204 for a missing key; some servers 404
            await self._call("delete", key, obstore.delete_async(self._store, key))

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        stream = obstore.list(self._store, prefix=prefix or None, chunk_size=1000)
        iterator = aiter(stream)
        while True:
            try:
                batch = await self._call("list", prefix, anext(iterator))
            except StopAsyncIteration:
                return
            for meta in batch:
                yield ObjectInfo(meta["path"], int(meta["size"]))

    async def presigned_get(self, key: str) -> str:
        """A GET URL of ``key`` valid for ``presign_seconds`` (SigV4 query signing; computed locally, no request)."""
        check_key(key)
        return await self._call("sign", key, obstore.sign_async(self._store, "GET", key, self.presign))

    def presigned_path(self, key: str, *, start: int, seconds: int, query: dict[str, str] | None = None) -> str:
        """``/<bucket>/<prefix>/<key>?<SigV4 presigned query>`` of a GET valid from ``start`` (Unix s)
        for ``seconds``, with the extra signed ``query`` parameters (e.g. ``response-cache-control``).

        Deterministic: the same arguments give the same URL in every process, which
        obstore's ``sign`` (always "now") cannot; so this follows the AWS specification
        itself ("Authenticating Requests: Using Query Parameters (AWS Signature Version
        4)", S3 API Reference), checked against obstore's signer in tests/storage.
        Without static credentials (the AWS default chain) it falls back to obstore's
        signer at the current time, without the extra parameters.
        """
        check_key(key)
        path = quote("/" + "/".join(part for part in (self.bucket, self.prefix, key) if part), safe="/-_.~")
        if self._credentials is None:
            parts = urlsplit(obstore.sign(self._store, "GET", key, dt.timedelta(seconds=seconds)))
            return parts.path + "?" + parts.query
        access_key, secret = self._credentials
        when = dt.datetime.fromtimestamp(start, dt.UTC)
        day, stamp = when.strftime("%Y%m%d"), when.strftime("%Y%m%dT%H%M%SZ")
        scope = f"{day}/{self.region}/s3/aws4_request"
        params = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{access_key}/{scope}",
            "X-Amz-Date": stamp,
            "X-Amz-Expires": str(seconds),
            "X-Amz-SignedHeaders": "host",
            **(query or {}),
        }
        canonical_query = "&".join(
            f"{_uri_encode(name)}={_uri_encode(value)}" for name, value in sorted(params.items())
        )
        canonical_request = f"GET\n{path}\n{canonical_query}\nhost:{self._host()}\n\nhost\nUNSIGNED-PAYLOAD"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        signing_key = f"AWS4{secret}".encode()
        for part in (day, self.region, "s3", "aws4_request"):
            signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{path}?{canonical_query}&X-Amz-Signature={signature}"

    def _host(self) -> str:
        """The ``host`` header SigV4 signs: the endpoint's ``host[:port]``, or AWS's regional path-style host."""
        if self.endpoint_url:
            return urlsplit(self.endpoint_url).netloc
        return f"s3.{self.region}.amazonaws.com"

    async def accel_redirect(self, key: str, location: str) -> str:
        """``<location>/<bucket>/<prefix>/<key>?<presigned query>``.

        nginx's internal ``location`` strips itself and proxies the rest to the
        endpoint with ``Host`` set to the endpoint's host:port (SigV4 signs the
        ``host`` header), so the bucket stays private and the bytes never pass
        through Python.
        """
        parts = urlsplit(await self.presigned_get(key))
        return location.rstrip("/") + parts.path + "?" + parts.query


def _uri_encode(text: str) -> str:
    """SigV4's UriEncode: every byte but ``A-Z a-z 0-9 - _ . ~`` as ``%XX`` (upper case hex)."""
    return quote(text, safe="-_.~")


def _first_line(exc: BaseException) -> str:
    """obstore's messages carry a multi-line debug dump; the first line says what happened."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
