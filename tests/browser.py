"""Headless Chromium driven over the DevTools protocol (CDP), for the HTML report's tests.

Chromium comes from the system (Debian's ``chromium`` package); nothing is downloaded. It
runs with a fresh profile in a temporary directory, on a loopback debugging port it picks
itself (read from the "DevTools listening on" line it prints), and is ended by its PID. The
protocol is spoken over aiohttp's websocket client.

:meth:`Page.load` records what a test must see: JavaScript exceptions, console errors and
every request for something that is not the file itself (an offline page makes none).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import attrs

__all__ = [
    "CHROMIUM_FLAGS",
    "Chromium",
    "Page",
    "PageLoad",
    "chromium_path",
    "file_url",
    "open_page",
]

#: Headless, sandbox off (the tests may run as root), and nothing that talks to the network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
_LISTENING = re.compile(r"DevTools listening on (ws://127\.0\.0\.1:(\d+)/\S+)")
#: Seconds allowed for Chromium to start and for a page to load on a busy machine.
STARTUP_TIMEOUT = 60.0


def chromium_path() -> str:
    """The system Chromium, or an error saying how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError(
            "Chromium is needed for the browser tests: apt-get install -y chromium "
            "(.ci/run installs it)"
        )
    return found


def file_url(path: Path) -> str:
    """The ``file:`` URL of a local file."""
    return path.absolute().as_uri()


@attrs.frozen
class PageLoad:
    """What happened while a page loaded and ran its scripts."""

    exceptions: tuple[str, ...]
    console_errors: tuple[str, ...]
    #: URLs requested other than the page itself (``data:`` and ``blob:`` excepted).
    requests: tuple[str, ...]


class Page:
    """One browser tab, spoken to over its DevTools websocket."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"])
                if "error" in data:
                    future.set_exception(RuntimeError(f"CDP error: {data['error']}"))
                else:
                    future.set_result(data.get("result", {}))
                continue
            method, params = data["method"], data.get("params", {})
            self._events.append((method, params))
            for waiter in [w for w in self._waiters if w[0] == method]:
                self._waiters.remove(waiter)
                if not waiter[1].done():
                    waiter[1].set_result(params)
        for future in self._pending.values():
            future.set_exception(ConnectionError("the browser closed the connection"))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a CDP method and return its result."""
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self._socket.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        return await asyncio.wait_for(future, STARTUP_TIMEOUT)

    def event(self, method: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the next ``method`` event; make it before causing the event."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((method, future))
        return future

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited if it is a promise)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def load(self, path: Path, *, width: int = 1280, height: int = 900) -> PageLoad:
        """Open a local file, wait for its load event, and report what went wrong on the way."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            await self.send(f"{domain}.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        loaded = self.event("Page.loadEventFired")
        url = file_url(path)
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(loaded, STARTUP_TIMEOUT)
        return self.record(url)

    def record(self, url: str) -> PageLoad:
        """Errors and outside requests seen so far (call again after running scripts)."""
        exceptions, console, requests = [], [], []
        for method, params in self._events:
            if method == "Runtime.exceptionThrown":
                exceptions.append(json.dumps(params["exceptionDetails"])[:2000])
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                console.append(json.dumps(params["args"])[:2000])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                console.append(params["entry"].get("text", ""))
            elif method == "Network.requestWillBeSent":
                requested = params["request"]["url"]
                if requested != url and not requested.startswith(("data:", "blob:")):
                    requests.append(requested)
        return PageLoad(tuple(exceptions), tuple(console), tuple(requests))

    async def screenshot(self, *, full_page: bool = False) -> bytes:
        """A PNG of the viewport, or of the whole page."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = await self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            params["captureBeyondViewport"] = True
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        result = await self.send("Page.captureScreenshot", **params)
        return base64.b64decode(result["data"])

    async def close(self) -> None:
        """Close the websocket and stop reading."""
        await self._socket.close()
        await self._reader


@attrs.define
class Chromium:
    """A headless Chromium process with its own temporary profile."""

    process: asyncio.subprocess.Process
    profile: str
    port: int
    stderr: list[str] = attrs.field(factory=list)

    async def stop(self) -> None:
        """End the browser (by its PID) and remove its profile."""
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


async def _drain(stream: asyncio.StreamReader, into: list[str]) -> None:
    # Read to the end so that Chromium never blocks on a full stderr pipe.
    async for line in stream:
        into.append(line.decode("utf-8", "replace"))


@contextlib.asynccontextmanager
async def open_page() -> AsyncIterator[Page]:
    """Start Chromium, open one blank tab, and end the browser on the way out."""
    executable = chromium_path()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    process = await asyncio.create_subprocess_exec(
        executable,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "LANG": "en_US.UTF-8"},
    )
    browser = Chromium(process=process, profile=profile, port=0)
    assert process.stderr is not None
    drain: asyncio.Task[None] | None = None
    try:
        browser.port = await asyncio.wait_for(
            _port(process.stderr, browser.stderr), STARTUP_TIMEOUT
        )
        drain = asyncio.create_task(_drain(process.stderr, browser.stderr))
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{browser.port}/json/list") as response:
                targets = await response.json()
            address = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            async with session.ws_connect(address, max_msg_size=0) as socket:
                page = Page(socket)
                try:
                    yield page
                finally:
                    await page.close()
    finally:
        await browser.stop()
        if drain is not None:
            await drain


async def _port(stream: asyncio.StreamReader, seen: list[str]) -> int:
    async for raw in stream:
        line = raw.decode("utf-8", "replace")
        seen.append(line)
        found = _LISTENING.search(line)
        if found:
            return int(found.group(2))
    raise RuntimeError("Chromium exited before it listened: " + "".join(seen)[-2000:])
