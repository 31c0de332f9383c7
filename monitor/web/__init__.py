"""The HTTP endpoints: the server, what each path answers (the status page among them), and the
exporter-toolkit web config (TLS and basic auth)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor import lazy_face

if TYPE_CHECKING:
    from monitor.web.basicauth import CHALLENGE
    from monitor.web.endpoints import OPEN_PATHS, Endpoints
    from monitor.web.guard import LoadedWebConfig, WebGuard, as_config_error, load_web_config
    from monitor.web.limits import ServerLimits, descriptor_reserve, fitted
    from monitor.web.server import HttpServer
    from monitor.web.statuspage import PageFacts, PageInputs

__all__ = [
    "CHALLENGE",
    "OPEN_PATHS",
    "Endpoints",
    "HttpServer",
    "LoadedWebConfig",
    "PageFacts",
    "PageInputs",
    "ServerLimits",
    "WebGuard",
    "as_config_error",
    "descriptor_reserve",
    "fitted",
    "load_web_config",
]

__getattr__ = lazy_face(
    __name__,
    {
        "basicauth": ("CHALLENGE",),
        "endpoints": ("OPEN_PATHS", "Endpoints"),
        "guard": ("LoadedWebConfig", "WebGuard", "as_config_error", "load_web_config"),
        "limits": ("ServerLimits", "descriptor_reserve", "fitted"),
        "server": ("HttpServer",),
        "statuspage": ("PageFacts", "PageInputs"),
    },
)
