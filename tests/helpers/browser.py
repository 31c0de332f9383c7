"""Headless Chromium (Debian package `chromium`) for the status page tests: the DOM it builds
from a page, what overflows a narrow screen, and screenshots, kept in a folder CI prints and
git ignores.

Chromium's headless window lays a page out at least 500 px wide, whatever `--window-size`
says (a 375 px screenshot is the left of a 500 px layout), so a narrow screen is a frame of
that width: inside it, the page is laid out, and its media queries judged, at 375 px."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

from tests.helpers.waiting import require_binary

# Where screenshots are kept after the run (ignored by git; .ci/run prints the path).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "statuspage"
DESKTOP = (1280, 900)
PHONE = (375, 900)


class Chromium:
    """One browser profile in `profile`; each call is a fresh headless run, nothing from the
    network but the page asked for."""

    def __init__(self, profile: Path) -> None:
        self.binary = require_binary("chromium", "chromium")
        self.profile = profile

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [
                self.binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={self.profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    def dom(self, url: str) -> str:
        """The DOM Chromium built from the page, serialized (`--dump-dom`)."""
        return self._run("--dump-dom", url).stdout

    def screenshot(self, url: str, path: Path, size: tuple[int, int], work: Path) -> Path:
        """The page at `url` in a window of `size`; below 500 px wide, in a frame that wide."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        flags = [f"--screenshot={path}", f"--window-size={size[0]},{size[1]}"]
        if size[0] < _MIN_LAYOUT_WIDTH:
            url = _framed(work / "screenshot-frame.html", url, size).as_uri()
            flags.append("--virtual-time-budget=5000")  # until the frame has loaded
        self._run(*flags, url)
        return path

    def too_wide(self, page: str, size: tuple[int, int], work: Path) -> list[str]:
        """The elements of `page` (HTML) that reach past the right edge of a screen of
        `size`, or scroll sideways: "" for a page that fits. The page is loaded from a file,
        with a script added that measures it and tells the frame around it."""
        inner = work / "measured.html"
        inner.write_text(page.replace("</body>", _MEASURE + "</body>"))
        frame = _framed(work / "measure-frame.html", inner.name, size, listen=True)
        dom = self._run(
            f"--window-size={size[0]},{size[1]}",
            "--virtual-time-budget=5000",  # until the frame has heard from the page
            "--dump-dom",
            frame.as_uri(),
        ).stdout
        found = re.search(r'data-measured="([^"]*)"', dom)
        assert found is not None, "the page did not report its measures"
        return [w for w in html.unescape(found.group(1)).split("|") if w]


_MIN_LAYOUT_WIDTH = 500
# Every element past the screen's right edge, or scrolling sideways within, as tag.class.
# The screen is what the vertical scroll bar leaves of the frame.
_MEASURE = """<script>
var wide = [], screen = document.documentElement.clientWidth;
document.querySelectorAll("body *").forEach(function (e) {
  var right = e.getBoundingClientRect().right;
  var scrolls = getComputedStyle(e).overflowX !== "visible" && e.scrollWidth > e.clientWidth;
  if (right > screen + 0.5 || scrolls) wide.push(e.tagName + "." + e.className);
});
if (document.documentElement.scrollWidth > screen) wide.push("html");
parent.postMessage(wide.join("|"), "*");
</script>"""


def _framed(path: Path, src: str, size: tuple[int, int], *, listen: bool = False) -> Path:
    """A page holding `src` in a frame of `size`; with `listen`, what the framed page posts
    ends up in the body's `data-measured`."""
    script = (
        '<script>window.addEventListener("message", function (e) {'
        ' document.body.setAttribute("data-measured", e.data); });</script>'
        if listen
        else ""
    )
    path.write_text(
        '<!doctype html><html><body style="margin:0;overflow:hidden">'
        f'<iframe src="{html.escape(src)}" style="border:0;width:{size[0]}px;'
        f'height:{size[1]}px"></iframe>{script}</body></html>'
    )
    return path
