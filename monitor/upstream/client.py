"""HTTP client of the useapi.net PixVerse endpoints: timeouts, retries (408, 429, 5xx), size
cap, outcome codes. It raises nothing but UpstreamError, whose texts never carry the token."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import orjson
import structlog

from monitor import __version__
from monitor.clock import Clock
from monitor.config import PollConfig, SourceConfig
from monitor.errors import Outcome, UpstreamError
from monitor.retry import read_retry_after, retry_delay, retryable_status
from monitor.secret import scrub
from monitor.upstream.connections import RenewingClient, borrowed
from monitor.upstream.decode import decode_json

ACCOUNTS_PATH = "/v2/pixverse/accounts"
CAPACITY_PATH = "/v2/pixverse/scheduler/available"
ACCOUNT_PATH = "/v2/account"
FEATURES_PATH = "/v2/pixverse/features"
MAX_ATTEMPTS = 3
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0  # never reached in 3 attempts; the next poll bounds it anyway
_ERROR_BODY_BYTES = 2048
_FAIL = object()  # as `not_found`: a 404 is an error like any other 4xx

Sleep = Callable[[float], Awaitable[None]]

log = structlog.get_logger("monitor.upstream")


class UpstreamClient:
    """Reads one source. One instance per source, reused across polls (keeps connections)."""

    def __init__(
        self,
        source: SourceConfig,
        *,
        timeout: timedelta,
        max_response_bytes: int,
        clock: Clock,
        retry_after_cap: timedelta | None = None,
        sleep: Sleep = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`retry_after_cap`: the longest a `Retry-After` is waited for (the poll interval:
        a server asking for longer is asked again by the next poll anyway)."""
        self._source = source
        self._timeout = timeout.total_seconds()
        self._retry_after_cap = (
            float("inf") if retry_after_cap is None else retry_after_cap.total_seconds()
        )
        self._max_bytes = max_response_bytes
        self._clock = clock
        self._sleep = sleep
        # Shared by the clients RenewingClient makes: each costs a CA bundle load otherwise.
        tls = httpx.create_ssl_context()
        shared = borrowed(transport) if transport is not None else None

        def new_client() -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=source.base_url,
                timeout=self._timeout,
                verify=tls,
                transport=shared,
                headers={
                    "User-Agent": f"pixverse-monitor/{__version__}",
                    "Accept": "application/json",
                },
            )

        self._http = RenewingClient(new_client)

    @classmethod
    def of(
        cls,
        source: SourceConfig,
        poll: PollConfig,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> UpstreamClient:
        """The client of `source` as `[poll]` sets it up: the one way the daemon, its plan
        schedules and `check` build one."""
        return cls(
            source,
            timeout=poll.timeout,
            max_response_bytes=poll.max_response_bytes,
            clock=clock,
            retry_after_cap=poll.interval,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def accounts(self, deadline_unix: float) -> object:
        """The decoded accounts object; 404 (no accounts configured) is an empty one."""
        return await self._get_json(ACCOUNTS_PATH, deadline_unix, not_found={})

    async def capacity(self, deadline_unix: float) -> object:
        """The decoded /scheduler/available object; 404 is an empty list."""
        return await self._get_json(CAPACITY_PATH, deadline_unix, not_found={"available": []})

    # -- the subscription and the plans (an unknown account is a 400 or 404) -------------

    # `pause` waits between attempts in place of the client's own sleep: the plan schedule
    # lets go of its request slot while a Retry-After runs.

    async def subscription(self, deadline_unix: float, pause: Sleep | None = None) -> object:
        """The decoded /v2/account object."""
        return await self._get_json(ACCOUNT_PATH, deadline_unix, not_found=_FAIL, pause=pause)

    async def features(
        self, email: str, deadline_unix: float, pause: Sleep | None = None
    ) -> object:
        """The decoded /features object of one account."""
        params = {"email": email}
        return await self._get_json(
            FEATURES_PATH, deadline_unix, not_found=_FAIL, params=params, pause=pause
        )

    async def _get_json(
        self,
        path: str,
        deadline_unix: float,
        not_found: object,
        params: dict[str, str] | None = None,
        pause: Sleep | None = None,
    ) -> object:
        attempt = 0
        while True:
            attempt += 1
            status, headers, body = await self._fetch(path, params)
            if status == 200:
                try:
                    return decode_json(body)
                except ValueError as exc:
                    raise UpstreamError(
                        Outcome.INVALID_PAYLOAD,
                        self._scrubbed(f"{path}: body is not JSON ({exc})"),
                        status=status,
                    ) from None
            if status == 404 and not_found is not _FAIL:
                return not_found
            detail = f"{path}: HTTP {status}"
            text = _error_text(body)
            if text:
                # A server may echo what it was sent, the token included: scrubbed before it
                # is cut short, so that no part of it is left.
                detail += f" ({_one_line(self._scrubbed(text))[:200]})"
            if status in (401, 403):
                raise UpstreamError(Outcome.UNAUTHORIZED, detail, status=status)
            if not retryable_status(status):
                raise UpstreamError(Outcome.HTTP_ERROR, detail, status=status)
            wait = self._retry_wait(path, headers.get("retry-after"), attempt)
            if attempt >= MAX_ATTEMPTS:
                raise UpstreamError(
                    Outcome.HTTP_ERROR, f"{detail}, gave up after {attempt} attempts", status=status
                )
            if self._clock.time() + wait + self._timeout > deadline_unix:
                raise UpstreamError(
                    Outcome.HTTP_ERROR,
                    f"{detail}, retry in {wait:.0f}s would run past the next poll",
                    status=status,
                )
            await (pause or self._sleep)(wait)

    async def _fetch(
        self, path: str, params: dict[str, str] | None = None
    ) -> tuple[int, httpx.Headers, bytes]:
        """One GET; the whole exchange, body included, bounded by the poll timeout. A
        request that ends any other way than with a whole answer renews the HTTP client,
        so a connection it left behind is never reused nor kept (see connections.py)."""
        # The only place the useapi.net token is unwrapped.
        auth = {"Authorization": f"Bearer {self._source.token.reveal()}"}
        try:
            async with (
                self._http.lease() as http,
                asyncio.timeout(self._timeout),
                http.stream("GET", path, headers=auth, params=params) as response,
            ):
                limit = self._max_bytes if response.status_code == 200 else _ERROR_BODY_BYTES
                body = await self._read_capped(response, path, limit)
                return response.status_code, response.headers, body
        except UpstreamError:
            raise
        except (TimeoutError, httpx.TimeoutException):
            raise UpstreamError(
                Outcome.TIMEOUT, f"{path}: no complete answer within {self._timeout:g}s"
            ) from None
        except httpx.DecodingError as exc:
            raise UpstreamError(Outcome.INVALID_PAYLOAD, self._scrubbed(f"{path}: {exc}")) from None
        except Exception as exc:
            # httpx's own errors, and whatever else making the request raised (a socket
            # error, an address it cannot encode): the request could not be made.
            raise UpstreamError(
                Outcome.CONNECTION_ERROR, self._scrubbed(f"{path}: {type(exc).__name__}: {exc}")
            ) from None

    def _scrubbed(self, text: str) -> str:
        return self._source.token.scrub_from(scrub(text))

    async def _read_capped(self, response: httpx.Response, path: str, limit: int) -> bytes:
        declared = response.headers.get("content-length", "")
        # ASCII digits only ("²".isdigit() is true), compared by length before int() reads
        # thousands of them.
        if (
            response.status_code == 200
            and declared.isascii()
            and declared.isdigit()
            and (len(declared) > len(str(limit)) or int(declared) > limit)
        ):
            raise UpstreamError(
                Outcome.TOO_LARGE, f"{path}: Content-Length {declared} exceeds {limit} bytes"
            )
        chunks: list[bytes] = []
        size = 0
        # aiter_bytes yields decompressed bytes, so a gzip bomb is capped too.
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                if response.status_code != 200:
                    break  # an error body is only read for its first bytes
                raise UpstreamError(Outcome.TOO_LARGE, f"{path}: body exceeds {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _retry_wait(self, path: str, retry_after: str | None, attempt: int) -> float:
        """Seconds to wait before the next attempt, by the one rule of `retry_delay`: the
        backoff, or a readable Retry-After when longer (at most the poll interval). An
        unreadable one is logged, with the header quoted."""
        asked = read_retry_after(retry_after, self._clock.time())
        if asked.ignored is not None:
            log.warning(
                "upstream.retry_after_ignored",
                source=self._source.name,
                path=path,
                value=asked.ignored,
            )
        return retry_delay(
            attempt,
            asked.seconds,
            base=BACKOFF_BASE_SECONDS,
            cap=BACKOFF_CAP_SECONDS,
            asked_cap=self._retry_after_cap,
        )


def _error_text(body: bytes) -> str:
    """The `error` message of a useapi.net error body, if there is one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return ""


def _one_line(text: str) -> str:
    """Printable on one line: a server's text may hold line breaks and control bytes."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
