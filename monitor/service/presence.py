"""Which accounts of a source are still known: those on its last accounts list, and those
missing from fewer than ABSENCE_GRACE_READS lists in a row. An account that vanishes from one
answer (an entry left out, a 404 now and then) keeps its plan, schedule, refresh count and
alerts; one missing for the grace is forgotten, and its alerts resolve as removed. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from monitor.upstream import Account

# Two lists in a row: one missing answer is the glitch upstream has been seen to make (every
# other poll, for a minute); two, a poll interval apart (5 minutes by default), is a removal.
ABSENCE_GRACE_READS = 2


class Presence:
    """The accounts of one source, across the list reads of this run (a 200, or a 404 as a
    list of none). Failed polls read no list and change nothing."""

    def __init__(self) -> None:
        self.reads = 0
        self._listed: dict[str, Account] = {}  # on the last list
        self._missing: dict[str, tuple[Account, int]] = {}  # -> as last listed, lists missed

    @property
    def absences_judged(self) -> bool:
        """True once this run has read the list (or been told there is none) as many times
        as the grace: a 404 that has lasted as long stands, even with nothing listed before
        it in this run."""
        return self.reads >= ABSENCE_GRACE_READS

    @property
    def missing(self) -> Mapping[str, Account]:
        """Accounts missing from the last lists, for less than the grace, as last listed."""
        return {email: account for email, (account, _) in self._missing.items()}

    def read(self, listed: Sequence[Account]) -> list[str]:
        """A list was read; returns the emails forgotten by it (missing for the grace)."""
        self.reads += 1
        now = {account.email: account for account in listed}
        missing: dict[str, tuple[Account, int]] = {}
        forgotten = []
        for email, account in self._listed.items():
            if email not in now:
                missing[email] = (account, 1)
        for email, (account, count) in self._missing.items():
            if email not in now:
                missing[email] = (account, count + 1)
        for email, (_, count) in list(missing.items()):
            if count >= ABSENCE_GRACE_READS:
                del missing[email]
                forgotten.append(email)
        self._listed = now
        self._missing = missing
        return forgotten
