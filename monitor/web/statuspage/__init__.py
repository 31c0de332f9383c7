"""The status page at `/` and its JSON twin at /api/v1/status: a pure view of the snapshot,
the firing alerts and the recent deliveries, rendered as HTML (Jinja2) and as JSON."""

from __future__ import annotations

from monitor.web.statuspage.document import status_document
from monitor.web.statuspage.html import (
    PAGE_CONTENT_TYPE,
    PAGE_HEADERS,
    STATUS_JSON_PATH,
    PageRenderer,
)
from monitor.web.statuspage.view import (
    MAX_ROWS,
    AccountTable,
    PageFacts,
    PageInputs,
    StatusView,
    account_table,
    build_view,
)

__all__ = [
    "MAX_ROWS",
    "PAGE_CONTENT_TYPE",
    "PAGE_HEADERS",
    "STATUS_JSON_PATH",
    "AccountTable",
    "PageFacts",
    "PageInputs",
    "PageRenderer",
    "StatusView",
    "account_table",
    "build_view",
    "status_document",
]
