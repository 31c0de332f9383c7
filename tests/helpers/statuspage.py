"""Reading the status page back: its tables as rows of cells named by their `data-label`, every
element it holds, and the agreement of the page with its JSON twin."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from monitor.timefmt import format_time_left

Row = dict[str, str]


class PageReader(HTMLParser):
    """`tables`: the rows of each table with a class, by its last class; `tags`: every
    element, in order, as (tag, attributes); `text`: every piece of text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[Row]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._table: str | None = None
        self._row: Row | None = None
        self._cell: str | None = None
        self._cell_text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table":
            classes = (attributes.get("class") or "").split()
            self._table = classes[-1] if classes else None
            if self._table is not None:
                self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self._row = {}
        elif tag == "td" and self._row is not None:
            self._cell = attributes.get("data-label") or ""
            self._cell_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row[self._cell] = " ".join("".join(self._cell_text).split())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell_text.append(data)

    def words(self) -> str:
        """The page's text, its runs of white space made one space."""
        return " ".join("".join(self.text).split())

    def rows(self, table: str) -> list[Row]:
        return self.tables.get(table, [])


def disagreements(html: str, document: dict[str, Any]) -> list[str]:
    """Where the page does not show what its JSON twin says: every account of the JSON (all of
    them, when there are at most 200) with its source, state and time left."""
    rows = PageReader(html).rows("accounts")
    shown = {(r["Source"], r["Account"]): r for r in rows}
    wrong = []
    total = sum(len(s["accounts"]) for s in document["sources"])
    if total <= 200 and len(rows) != total:
        wrong.append(f"{len(rows)} rows for {total} accounts")
    for source in document["sources"]:
        for account in source["accounts"]:
            row = shown.get((source["name"], account["account"]))
            if row is None:
                if total <= 200:
                    wrong.append(f"{account['account']} of {source['name']} is not on the page")
                continue
            expected = (account["state"], format_time_left(account["ttl_seconds"]))
            if (row["State"], row["Time left"]) != expected:
                wrong.append(f"{account['account']}: page {row}, JSON {expected}")
    return wrong
