"""What the HTTP server and the endpoints exchange: a request, a response, the verdict of the
credentials check, a response body shared by every connection that sends it (with its one gzip
form), and which content coding a client accepts."""

from __future__ import annotations

import asyncio
import enum
import gzip
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

# Smaller bodies are sent as they are: compressing them saves nothing worth a header.
GZIP_MIN_BYTES = 1024
# Bigger bodies are compressed in a worker thread, so that a scrape never stalls the loop.
GZIP_THREAD_MIN_BYTES = 256 * 1024
_GZIP_LEVEL = 1  # most of the saving, a fraction of the time of the default 9
# qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), RFC 9110 section 12.4.2
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names; repeated fields joined with ", "
    peer: str  # "address:port", for logs
    peer_address: str = ""  # the address alone: whose turn it is in the credentials checks


class Verdict(enum.Enum):
    """The answer of the credentials check."""

    ALLOW = "allow"
    DENY = "deny"  # 401
    BUSY = "busy"  # 429: this peer already has as many checks waiting as it may


class Payload:
    """A response body and, computed at most once, its gzip form. Every response of the same
    moment sends the same Payload, so concurrent scrapes share one body and one compression."""

    __slots__ = ("_gzip", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._gzip: asyncio.Future[bytes] | None = None

    def __len__(self) -> int:
        return len(self.data)

    async def gzipped(self) -> bytes:
        if self._gzip is None:
            if len(self.data) >= GZIP_THREAD_MIN_BYTES:
                self._gzip = asyncio.ensure_future(
                    asyncio.to_thread(gzip.compress, self.data, _GZIP_LEVEL)
                )
            else:
                self._gzip = asyncio.get_running_loop().create_future()
                self._gzip.set_result(gzip.compress(self.data, _GZIP_LEVEL))
        # Shielded: one requester going away (evicted, timed out) must not cancel the
        # compression the others are waiting for.
        return await asyncio.shield(self._gzip)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes | Payload
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


def gzip_coding(accept_encoding: str | None) -> str | None:
    """The gzip coding token to answer with ("gzip", or "x-gzip" for a client that names only
    that alias), or None for identity, after RFC 9110 section 12.5.3: codings with q-values,
    `q=0` meaning "not acceptable", `*` standing for any coding not named, and identity preferred
    only when the client weighs it above gzip."""
    if not accept_encoding:
        return None
    weights: dict[str, float] = {}
    for element in accept_encoding.split(","):
        coding, _, params = element.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        weight = _weight(params)
        # A coding named twice counts with its lowest weight: refusing wins over accepting.
        weights[coding] = min(weight, weights.get(coding, weight))
    star = weights.get("*")
    gzip_weight = weights.get("gzip")
    name = "gzip"
    if gzip_weight is None and "x-gzip" in weights:
        gzip_weight, name = weights["x-gzip"], "x-gzip"
    if gzip_weight is None:
        gzip_weight = star if star is not None else 0.0
    # Unnamed, identity is acceptable but not preferred: it wins only when weighed higher.
    identity = weights.get("identity", star if star is not None else 0.0)
    if gzip_weight <= 0 or gzip_weight < identity:
        return None
    return name


def _weight(params: str) -> float:
    """The q-value among `params` (";q=0.5;x=y"); 1 when absent, 0 when malformed."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            value = value.strip()
            return float(value) if _QVALUE.fullmatch(value) else 0.0
    return 1.0


Handler = Callable[[Request], Awaitable[Response]]
Authorize = Callable[[Request], Awaitable[Verdict]]
