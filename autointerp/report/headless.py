"""Drive headless Chromium over the DevTools protocol on a pipe (no port, no extra package).

Used by the report's tests and benchmark to open `report.html`, run script in it, collect
console errors and network requests, and take screenshots. Chromium reads commands on fd 3 and
writes replies and events on fd 4, each a JSON message ending in a NUL byte.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars")


class ChromiumError(RuntimeError):
    """Chromium could not be started, answered with an error, or took too long."""


def find_chromium() -> str | None:
    """Path of a Chromium binary: $CHROMIUM, else `chromium` or `chromium-browser` on PATH."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """One headless Chromium process; `with Chromium() as browser: page = browser.open(url)`."""

    def __init__(self, binary: str | None = None, timeout: float = 30.0, window: tuple[int, int] = (1280, 1800)):
        binary = binary or find_chromium()
        if not binary:
            raise ChromiumError("no chromium found: install Debian's `chromium` (make install) or set $CHROMIUM")
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._profile = tempfile.mkdtemp(prefix="autointerp-chromium-")
        self._next_id = 0
        self._buffer = b""
        to_child, self._write_fd = os.pipe()
        self._read_fd, from_child = os.pipe()

        def wire_fds() -> None:  # the child must see our pipe ends as fds 3 (commands) and 4 (replies)
            a, b = os.dup(to_child), os.dup(from_child)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [binary, *FLAGS, f"--user-data-dir={self._profile}", f"--window-size={window[0]},{window[1]}",
                "--remote-debugging-pipe", "about:blank"]
        try:
            self.process = subprocess.Popen(args, preexec_fn=wire_fds, close_fds=False,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError as err:
            for fd in (to_child, from_child, self._write_fd, self._read_fd):
                os.close(fd)
            shutil.rmtree(self._profile, ignore_errors=True)
            raise ChromiumError(f"could not start chromium at {binary}: {err}") from err
        os.close(to_child)
        os.close(from_child)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the browser and remove its profile."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for fd in (self._write_fd, self._read_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def _receive(self, deadline: float) -> dict[str, Any]:
        """The next message from the browser."""
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read_fd], [], [], left)[0]:
                raise ChromiumError(f"chromium did not answer within {self.timeout} s")
            chunk = os.read(self._read_fd, 1 << 20)
            if not chunk:
                raise ChromiumError(f"chromium exited (status {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its reply; events that arrive meanwhile go to `events`."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise ChromiumError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def open(self, url: str = "about:blank") -> "Page":
        """A new tab with Runtime, Log, Network and Page events on, navigated to `url`."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable", session=session)
        page = Page(self, session)
        if url != "about:blank":
            page.navigate(url)
        return page


class Page:
    """One attached tab."""

    def __init__(self, browser: Chromium, session: str):
        self.browser = browser
        self.session = session

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A command to this tab."""
        return self.browser.call(method, params, self.session)

    def navigate(self, url: str) -> None:
        """Start loading `url` (returns before the page is ready; see `wait_for`)."""
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise ChromiumError(f"could not open {url}: {result['errorText']}")

    def evaluate(self, expression: str) -> Any:
        """Run JavaScript in the page and return its (JSON-able) value."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise ChromiumError(f"script failed: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0, interval: float = 0.02) -> float:
        """Poll until `expression` is truthy; returns the seconds waited."""
        start = time.monotonic()
        while True:
            try:
                if self.evaluate(expression):
                    return time.monotonic() - start
            except ChromiumError:  # the page is still loading: no document or context yet
                pass
            if time.monotonic() - start > timeout:
                raise ChromiumError(f"timed out waiting for {expression!r}")
            time.sleep(interval)

    def screenshot(self, path: str | Path) -> Path:
        """Save a PNG of the viewport."""
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    def _events(self, *methods: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.browser.events if e.get("sessionId") == self.session and e["method"] in methods]

    def console_errors(self) -> list[str]:
        """Errors from console.error, uncaught exceptions and the browser log (CSP, failed loads)."""
        out = [json.dumps(p.get("args")) for p in self._events("Runtime.consoleAPICalled") if p.get("type") in ("error", "assert")]
        out += [p["exceptionDetails"].get("text", "exception") for p in self._events("Runtime.exceptionThrown")]
        out += [p["entry"].get("text", "") for p in self._events("Log.entryAdded") if p["entry"].get("level") == "error"]
        return out

    def requested_urls(self) -> list[str]:
        """Every URL the tab asked the network stack for, in order."""
        return [p["request"]["url"] for p in self._events("Network.requestWillBeSent")]
