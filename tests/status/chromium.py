"""Headless Debian Chromium driven over the Chrome DevTools Protocol (aiohttp websocket).

Started with a fresh profile, its DevTools port on 127.0.0.1 (port 0: Chromium picks a free
one and writes it to DevToolsActivePort), and every background network feature off: the
only thing it talks to is the page under test. Stopped by the process group we created.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "--window-size=1280,900")
START_TIMEOUT = 60.0  # seconds; a cold Chromium on 2 busy cores can take a while
STOP_TIMEOUT = 10.0


class CdpError(Exception):
    """A DevTools command failed or a page script threw."""


class Page:
    """One page target: send CDP commands, evaluate JavaScript, take screenshots."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []  # every event received so far (method, params)

    async def send(self, method: str, within: float = 30.0, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer (events in between are skipped)."""
        msg_id = next(self._ids)
        await self._ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        async with asyncio.timeout(within):
            while True:
                msg = await self._ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise CdpError(f"DevTools connection closed during {method}: {msg.type}")
                data = json.loads(msg.data)
                if data.get("id") != msg_id:
                    if "method" in data:  # kept for tests that check console errors etc.
                        self.events.append(data)
                    continue  # an event or an answer to nobody
                if "error" in data:
                    raise CdpError(f"{method}: {data['error']}")
                return data["result"]

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (awaits promises)."""
        result = await self.send("Runtime.evaluate", expression=expression,
                                 returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CdpError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def navigate(self, url: str) -> None:
        """Open a URL in this page (no waiting for it to load: poll the DOM instead)."""
        result = await self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise CdpError(f"navigate {url}: {result['errorText']}")

    async def wait_for(self, expression: str, within: float, what: str) -> Any:
        """Poll a JavaScript expression until it is truthy; AssertionError after `within` s."""
        deadline = time.monotonic() + within
        last: Any = None
        while time.monotonic() < deadline:
            last = await self.evaluate(expression)
            if last:
                return last
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out after {within:.0f} s waiting for {what} "
                             f"(last value {last!r})")

    async def screenshot(self, path: Path) -> Path:
        """Save a PNG of the whole page."""
        metrics = await self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = await self.send("Page.captureScreenshot", format="png", clip=clip,
                               captureBeyondViewport=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
        return path


class Chromium:
    """A running headless Chromium; `async with Chromium.launch(workdir) as browser`."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.port = port

    @staticmethod
    def binary() -> str:
        """The chromium command, or a failure that says how to install it."""
        found = shutil.which("chromium")
        if found is None:
            raise FileNotFoundError("chromium is not installed: run scripts/install-debian-deps.sh")
        return found

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, workdir: Path) -> AsyncIterator[Chromium]:
        """Start Chromium with a fresh profile in workdir; stop its process group after."""
        profile = workdir / "profile"
        proc = _spawn(cls.binary(), workdir, profile)
        try:
            port = await _devtools_port(proc, profile / "DevToolsActivePort", workdir)
            yield cls(proc, port)
        finally:
            _stop(proc)

    @contextlib.asynccontextmanager
    async def page(self) -> AsyncIterator[Page]:
        """The first page target, connected over its webSocketDebuggerUrl."""
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{self.port}/json/list") as resp:
                targets = await resp.json()
            url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            async with http.ws_connect(url, max_msg_size=0) as ws:
                page = Page(ws)
                await page.send("Page.enable")
                await page.send("Runtime.enable")
                yield page


def _spawn(binary: str, workdir: Path, profile: Path) -> subprocess.Popen[bytes]:
    """Start Chromium in a new session (its own process group), output to chromium.log."""
    profile.mkdir(parents=True)
    with open(workdir / "chromium.log", "ab") as log:
        return subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _read_port(port_file: Path) -> int | None:
    """The DevTools port Chromium wrote (first line), or None while it is not there yet."""
    try:
        return int(port_file.read_text().splitlines()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def _log_tail(workdir: Path) -> str:
    return (workdir / "chromium.log").read_text(errors="replace")[-2000:]


async def _devtools_port(proc: subprocess.Popen[bytes], port_file: Path, workdir: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode}:\n{_log_tail(workdir)}")
        port = _read_port(port_file)
        if port is not None:
            return port
        await asyncio.sleep(0.1)
    raise RuntimeError(f"chromium did not open its DevTools port within {START_TIMEOUT:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we created (browser, zygote, renderers), SIGKILL if needed."""
    pgid = proc.pid  # start_new_session: the group id is our child's pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)  # helpers that outlived the browser
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT)
