"""The defaults of the commands' options that `--help` shows, apart from the commands
themselves: parsing a command line loads none of them."""

from __future__ import annotations

# check_nrpe gives up after 10 s by default (its -t), and then says "Socket timeout", not
# UNKNOWN: answer before it does, with time to spare for printing, exiting and the network.
DEFAULT_CHECK_TIMEOUT_SECONDS = 8.0
DEFAULT_FAKE_UPSTREAM_LISTEN = "127.0.0.1:9878"  # beside the daemon's 9877
