"""HTTP client of the useapi.net PixVerse endpoints: timeouts, retries (408, 429, 5xx; and
timeouts for a one-shot check), size cap, outcome codes. It raises nothing but UpstreamError,
whose texts never carry the token."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import NamedTuple

import httpx
import orjson
import structlog

from monitor import __version__
from monitor.clock import Clock, ClockCheck, Instant
from monitor.config import PollConfig, SourceConfig
from monitor.errors import Outcome, UpstreamError
from monitor.retry import read_retry_after, retry_delay, retryable_status
from monitor.secret import scrub
from monitor.timefmt import http_date_unix
from monitor.upstream.connections import RenewingClient, borrowed, tls_for
from monitor.upstream.decode import decode_json

ACCOUNTS_PATH = "/v2/pixverse/accounts"
CAPACITY_PATH = "/v2/pixverse/scheduler/available"
ACCOUNT_PATH = "/v2/account"
FEATURES_PATH = "/v2/pixverse/features"
# Attempts of one request (the first and its retries), for the daemon's polls and plan reads.
REQUEST_ATTEMPTS = 3
# A one-shot check (`check`) has no next poll to wait for, only what is left of --timeout:
# it retries once, and only with at least this much of it left for the new attempt.
ONE_SHOT_ATTEMPTS = 2
MIN_ATTEMPT_SECONDS = 1.0
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0  # never reached in 3 attempts; the next poll bounds it anyway
_ERROR_BODY_BYTES = 2048
_FAIL = object()  # as `not_found`: a 404 is an error like any other 4xx
_NOT_CONFIGURED = object()  # as `not_found`: a 404 is an answer of its own

Sleep = Callable[[float], Awaitable[None]]

log = structlog.get_logger("monitor.upstream")


class AccountsAnswer(NamedTuple):
    """What /accounts answered: the decoded list, or for a 404 ("Configuration not found")
    that no account is configured for the token; and upstream's clock as its `Date` header
    put it, when it had one."""

    payload: object
    clock: ClockCheck | None
    none_configured: bool = False


class UpstreamClient:
    """Reads one source. One instance per source, reused across polls (keeps connections).

    A request's `deadline`, a reading of the monotonic clock, bounds its retries. For the daemon
    (the default) it is the next poll: a 408, 429 or 5xx is retried (3 attempts in all) when the
    wait and one more whole `timeout` end before it; a timeout is not retried, the next poll is
    near. For a one-shot check (`one_shot=True`) it is the end of `--timeout`, which cancels
    whatever is still running then: a 408, 429, 5xx or a timeout is retried once when the wait
    leaves at least MIN_ATTEMPT_SECONDS before it, so the retry waits at most what is left."""

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
        one_shot: bool = False,
    ) -> None:
        """`retry_after_cap`: the longest a `Retry-After` is waited for (the poll interval:
        a server asking for longer is asked again by the next poll anyway)."""
        self._source = source
        self._one_shot = one_shot
        self._attempts = ONE_SHOT_ATTEMPTS if one_shot else REQUEST_ATTEMPTS
        self._timeout = timeout.total_seconds()
        self._retry_after_cap = (
            float("inf") if retry_after_cap is None else retry_after_cap.total_seconds()
        )
        self._max_bytes = max_response_bytes
        self._clock = clock
        self._sleep = sleep
        shared = borrowed(transport) if transport is not None else None

        def new_client() -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=source.base_url,
                timeout=self._timeout,
                verify=tls_for(source.base_url),
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
        *,
        one_shot: bool = False,
    ) -> UpstreamClient:
        """The client of `source` as `[poll]` sets it up: the one way the daemon, its plan
        schedules and `check` (`one_shot`) build one."""
        return cls(
            source,
            timeout=poll.timeout,
            max_response_bytes=poll.max_response_bytes,
            clock=clock,
            retry_after_cap=poll.interval,
            transport=transport,
            one_shot=one_shot,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # Every `deadline` is a reading of the clock's monotonic clock: a retry that would end
    # past it is not made.

    async def accounts(self, deadline: float) -> AccountsAnswer:
        """The decoded accounts object (or, for a 404, that none is configured), with
        upstream's clock."""
        payload, clock = await self._get_json(ACCOUNTS_PATH, deadline, not_found=_NOT_CONFIGURED)
        if payload is _NOT_CONFIGURED:
            return AccountsAnswer(None, clock, none_configured=True)
        return AccountsAnswer(payload, clock)

    async def capacity(self, deadline: float) -> object:
        """The decoded /scheduler/available object; 404 is an empty list."""
        payload, _ = await self._get_json(CAPACITY_PATH, deadline, not_found={"available": []})
        return payload

    # -- the subscription and the plans (an unknown account is a 400 or 404) -------------

    # `pause` waits between attempts in place of the client's own sleep: the plan schedule
    # lets go of its request slot while a Retry-After runs.

    async def subscription(self, deadline: float, pause: Sleep | None = None) -> object:
        """The decoded /v2/account object."""
        payload, _ = await self._get_json(ACCOUNT_PATH, deadline, not_found=_FAIL, pause=pause)
        return payload

    async def features(self, email: str, deadline: float, pause: Sleep | None = None) -> object:
        """The decoded /features object of one account."""
        params = {"email": email}
        payload, _ = await self._get_json(
            FEATURES_PATH, deadline, not_found=_FAIL, params=params, pause=pause
        )
        return payload

    async def _get_json(
        self,
        path: str,
        deadline: float,
        not_found: object,
        params: dict[str, str] | None = None,
        pause: Sleep | None = None,
    ) -> tuple[object, ClockCheck | None]:
        """The decoded body of a 200 (or `not_found` for a 404), with the answer's `Date`."""
        attempt = 0
        while True:
            attempt += 1
            try:
                status, headers, body, arrived = await self._fetch(path, params)
            except UpstreamError as exc:
                if not (self._one_shot and exc.reason is Outcome.TIMEOUT):
                    raise
                # Nothing to wait for: the attempt already took its whole timeout.
                await self._before_retry(exc, 0.0, attempt, deadline, pause)
                continue
            if status == 200:
                try:
                    return decode_json(body), _clock_check(headers, arrived)
                except ValueError as exc:
                    raise UpstreamError(
                        Outcome.INVALID_PAYLOAD,
                        self._scrubbed(f"{path}: body is not JSON ({exc})"),
                        status=status,
                    ) from None
            if status == 404 and not_found is not _FAIL:
                return not_found, _clock_check(headers, arrived)
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
            failure = UpstreamError(Outcome.HTTP_ERROR, detail, status=status)
            await self._before_retry(failure, wait, attempt, deadline, pause)

    async def _before_retry(
        self,
        failure: UpstreamError,
        wait: float,
        attempt: int,
        deadline: float,
        pause: Sleep | None,
    ) -> None:
        """Wait `wait` seconds before the next attempt (with `pause`, else the client's own
        sleep), or raise `failure` when there is to be none: the attempts are used up, or
        there is no time for another before the deadline."""
        reason, detail, status = failure.reason, failure.detail, failure.status
        if attempt >= self._attempts:
            raise UpstreamError(
                reason, f"{detail}, gave up after {attempt} attempts", status=status
            )
        now = self._clock.monotonic()
        if self._one_shot:
            left = deadline - now
            if wait + MIN_ATTEMPT_SECONDS > left:
                retry = f"a retry in {wait:.1f}s" if wait > 0 else "a retry"
                raise UpstreamError(
                    reason,
                    f"{detail}, not retried: {retry} would not fit in the "
                    f"{max(0.0, left):.1f}s left of --timeout",
                    status=status,
                )
        elif now + wait + self._timeout > deadline:
            raise UpstreamError(
                reason,
                f"{detail}, retry in {wait:.0f}s would run past the next poll",
                status=status,
            )
        await (pause or self._sleep)(wait)

    async def _fetch(
        self, path: str, params: dict[str, str] | None = None
    ) -> tuple[int, httpx.Headers, bytes, Instant]:
        """One GET; the whole exchange, body included, bounded by the poll timeout; and our
        clocks when the answer's head arrived. A request that ends any other way than with a
        whole answer renews the HTTP client, so a connection it left behind is never reused
        nor kept (see connections.py)."""
        # The only place the useapi.net token is unwrapped.
        auth = {"Authorization": f"Bearer {self._source.token.reveal()}"}
        try:
            async with (
                self._http.lease() as http,
                asyncio.timeout(self._timeout),
                http.stream("GET", path, headers=auth, params=params) as response,
            ):
                arrived = Instant.of(self._clock)
                limit = self._max_bytes if response.status_code == 200 else _ERROR_BODY_BYTES
                body = await self._read_capped(response, path, limit)
                return response.status_code, response.headers, body, arrived
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


def _clock_check(headers: httpx.Headers, arrived: Instant) -> ClockCheck | None:
    """Upstream's clock (its `Date`) against ours when its answer arrived."""
    upstream = http_date_unix(headers.get("date"), arrived.unix)
    return None if upstream is None else ClockCheck(arrived, upstream)


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
