"""The HTTP server's hard limits: the endpoints face untrusted networks (docs/operations.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """How much a client may take. Tests shorten the times; the defaults are those
    docs/operations.md lists."""

    # A request (TLS handshake and head for the first one on a connection, head and body for
    # each) must arrive whole within this many seconds of its first byte; slowloris defence.
    request_seconds: float = 10.0
    # A keep-alive connection with no request in progress is closed after this long.
    idle_seconds: float = 60.0
    # A response that makes no progress (its client stopped reading) is cut off after this long.
    send_seconds: float = 30.0
    # Open connections at most; past this the one waiting longest without a complete request
    # is closed to admit the new one.
    max_connections: int = 256
    # Request line and header fields together (431 beyond).
    max_header_bytes: int = 16 * 1024
    # A request body is read (and dropped) only up to this size (413 beyond).
    max_body_bytes: int = 64 * 1024
    # Sockets are read, and responses written, in pieces of this size; each written slice
    # waits for the socket to drain, so a connection buffers about two of them at most.
    chunk_bytes: int = 64 * 1024
