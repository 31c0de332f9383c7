"""The status page as HTML: the view rendered by a Jinja2 template shipped with the package,
every value escaped (autoescape on for everything), styles inline, no script, nothing from
another host."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from monitor.web.statuspage.view import URGENCY, StatusView

PAGE_CONTENT_TYPE = "text/html; charset=utf-8"
# The page may use its own inline styles and nothing else: no script, no frame, no image,
# no font or style from anywhere.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
STATUS_JSON_PATH = "/api/v1/status"


class PageRenderer:
    """Holds the loaded template; `render` is pure."""

    def __init__(self) -> None:
        environment = Environment(
            loader=PackageLoader("monitor.web.statuspage", "templates"),
            autoescape=True,  # every template, whatever its name
            undefined=StrictUndefined,  # a misspelt name fails the tests, not the page
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self._template: Template = environment.get_template("status.html")

    def render(self, view: StatusView) -> bytes:
        base = view.facts.external_url
        links = {
            "status_json": base + STATUS_JSON_PATH,
            "metrics": base + "/metrics",
            "healthz": base + "/healthz",
            "readyz": base + "/readyz",
        }
        return self._template.render(view=view, states=URGENCY, links=links).encode()
