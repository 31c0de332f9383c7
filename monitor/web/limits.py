"""The HTTP server's hard limits: the endpoints face untrusted networks (docs/operations.md);
and how many connections the process's file descriptor limit leaves room for."""

from __future__ import annotations

from dataclasses import dataclass, replace

# Descriptors the rest of the daemon may hold at once, kept out of the connections' share so
# that a flood never costs a poll, a delivery or a state save its descriptor (with 64 and
# the cap at 256, 120 idle connections left /healthz unreachable and saves failing with
# EMFILE). Counted on a running daemon, with room to spare:
# - the process: stdin/out/err, the event loop's epoll and wake-up pair, the listening
#   sockets (two for an any-address listen), the state file's lock, its temporary file and
#   the directory synced after the rename, /proc read at a scrape (process_* metrics), a
#   reload's config, token and web config files, DNS lookups in the resolver threads: 32;
# - each source: the accounts and capacity requests, two plan reads, and the connections
#   of a client renewed after a failure until they close: 6;
# - each sink: a delivery, the Alertmanager re-send, and a renewed client's connection: 3.
RESERVED_DESCRIPTORS = 32
RESERVED_PER_SOURCE = 6
RESERVED_PER_SINK = 3


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
    # is closed to admit the new one. Lowered to fit the descriptor limit (`fitted`).
    max_connections: int = 256
    # Connections accepted per turn of the event loop. Each holds a descriptor until it is
    # admitted (a turn or two later), and those it pushes out until they are closed: a flood
    # holds up to about two batches beyond max_connections.
    accept_batch: int = 64
    # Request line and header fields together (431 beyond).
    max_header_bytes: int = 16 * 1024
    # A request body is read (and dropped) only up to this size (413 beyond).
    max_body_bytes: int = 64 * 1024
    # Sockets are read, and responses written, in pieces of this size; each written slice
    # waits for the socket to drain, so a connection buffers about two of them at most.
    chunk_bytes: int = 64 * 1024


def descriptor_reserve(sources: int, sinks: int) -> int:
    """Descriptors to keep for everything but the HTTP connections (see above)."""
    return RESERVED_DESCRIPTORS + RESERVED_PER_SOURCE * sources + RESERVED_PER_SINK * sinks


def fitted(limits: ServerLimits, open_files: int | None, reserve: int) -> ServerLimits:
    """`limits` with the connection cap and accept batch lowered so that the connections, and
    two batches in flight, fit in `open_files` (the soft RLIMIT_NOFILE; None: no limit) less
    `reserve`. Never below one of each: a limit too low for that is logged by the daemon."""
    if open_files is None:
        return limits
    room = open_files - reserve
    batch = max(1, min(limits.accept_batch, room // 8))
    connections = max(1, min(limits.max_connections, room - 2 * batch))
    return replace(limits, max_connections=connections, accept_batch=batch)
