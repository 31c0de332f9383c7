"""The status page as HTML: the view rendered by a Jinja2 template shipped with the package,
every value escaped (autoescape on for everything), styles inline, no script, nothing from
another host."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.web.statuspage.view import URGENCY, StatusView

if TYPE_CHECKING:
    from jinja2 import Template

PAGE_CONTENT_TYPE = "text/html; charset=utf-8"
# The page may use its own inline styles and nothing else: no script, no frame, no image,
# no font or style from anywhere.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
STATUS_JSON_PATH = "/api/v1/status"


class PageRenderer:
    """Holds the template, loaded for the first page (most daemons are only ever scraped, and
    Jinja2 and a compiled template cost 2 MB); `render` is pure."""

    def __init__(self) -> None:
        self._template: Template | None = None

    def render(self, view: StatusView) -> bytes:
        if self._template is None:
            self._template = _load_template()
        base = view.facts.external_url
        links = {
            "status_json": base + STATUS_JSON_PATH,
            "metrics": base + "/metrics",
            "healthz": base + "/healthz",
            "readyz": base + "/readyz",
        }
        return self._template.render(view=view, states=URGENCY, links=links).encode()


def _load_template() -> Template:
    from jinja2 import Environment, PackageLoader, StrictUndefined  # noqa: PLC0415 - see above

    environment = Environment(
        loader=PackageLoader("monitor.web.statuspage", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,  # a misspelt name fails the tests, not the page
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    return environment.get_template("status.html")
