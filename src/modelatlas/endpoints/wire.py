"""A minimal HTTP/1.1 client transport for load generation: bytes are stamped in the protocol
callback itself, with no task wake-up per chunk.

Why: with a general-purpose client every arriving chunk wakes the coroutine that reads it, and
every request builds a request object, so on one core the client becomes the bottleneck long
before a fast server does (``benchmarks/perf/README.md``: against one simulator core, aiohttp's
path has 2-4x this transport's TTFT error at every level, and on a machine with other work it
failed at 1,024 streams of 20 chunks/s, 20.7 ms, where this one keeps 0.3 ms). Here the event
loop calls :meth:`_Conn.data_received` straight from the socket, which takes ``perf_counter``
first, strips the chunked framing and appends the payload; the waiting coroutine wakes once, at
the end of the response. A request is one pre-built bytes write.

Scope, on purpose narrow: ``POST`` with a ``Content-Length`` body; responses with
``Content-Length``, chunked transfer coding, or read-until-close; keep-alive connections reused
per endpoint; ``http`` and ``https`` (the system's default TLS context); ``Accept-Encoding:
identity`` (no compression to undo). No proxies, redirects, cookies or HTTP/2: the general client
(aiohttp) does everything else, and perf falls back to it with ``--transport aiohttp``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from multidict import CIMultiDict

_perf = time.perf_counter
_MAX_HEAD = 64 * 1024


class WireConnectError(ConnectionError):
    """The connection could not be made (refused, name not resolved, TLS failure, timeout)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WireProtocolError(Exception):
    """The server's bytes are not valid HTTP/1.1."""


@dataclass
class WireResponse:
    """What one request got: filled in while the response arrives."""

    times: list[float]
    """``perf_counter`` at each ``data_received`` that carried body bytes."""
    chunks: list[bytes]
    """The body bytes (transfer coding removed) that arrived at ``times[i]``."""
    status: int = 0
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    headers_perf: float | None = None
    end_perf: float | None = None


class _Conn(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = True
        self._response: WireResponse | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._head = bytearray()
        self._mode = ""  # "head", "chunked", "length", "close", "done"
        self._left = 0  # body bytes left (length) or in the current chunk (chunked)
        self._crlf = 0  # framing bytes to skip after a chunk's data
        self._line = bytearray()  # a chunk-size line being read
        self._trailer = False
        self.last_perf = 0.0

    # --- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self._waiter is not None and not self._waiter.done():
            if self._mode == "close" and self._response is not None:
                self._finish()
            else:
                what = "before the response was complete"
                self._waiter.set_exception(exc or ConnectionResetError(f"connection closed {what}"))

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost decides

    def data_received(self, data: bytes) -> None:
        t = _perf()
        self.last_perf = t
        response = self._response
        if response is None or self._mode == "done":
            self.reusable = False  # bytes nobody asked for: do not reuse this connection
            return
        if self._mode == "head":
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > _MAX_HEAD:
                    self._fail(WireProtocolError("response headers are larger than 64 KiB"))
                return
            rest = bytes(self._head[end + 4 :])
            try:
                self._parse_head(bytes(self._head[:end]), response)
            except WireProtocolError as exc:
                self._fail(exc)
                return
            response.headers_perf = t
            if self._mode == "done":
                self._finish()
                return
            data = rest
            if not data:
                return
        if self._mode == "chunked":
            payload = self._dechunk(data)
            if payload is None:  # malformed framing
                return
        elif self._mode == "length":
            payload = data[: self._left]
            self._left -= len(payload)
            if self._left == 0:
                self._mode = "done"
        else:  # "close": until the server closes
            payload = data
        if payload:
            response.times.append(t)
            response.chunks.append(payload)
        if self._mode == "done":
            self._finish()

    # --- framing
    def _parse_head(self, head: bytes, response: WireResponse) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise WireProtocolError(f"not an HTTP status line: {lines[0][:80]!r}")
        response.status = int(parts[1])
        headers = response.headers
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise WireProtocolError(f"malformed header line {line[:80]!r}")
            headers.add(name.strip(), value.strip())
        if "close" in headers.get("Connection", "").lower() or parts[0] == "HTTP/1.0":
            self.reusable = False
        if response.status in (204, 304) or 100 <= response.status < 200:
            self._mode = "done"
        elif "chunked" in headers.get("Transfer-Encoding", "").lower():
            self._mode = "chunked"
        elif "Content-Length" in headers:
            try:
                self._left = int(headers["Content-Length"])
            except ValueError:
                raise WireProtocolError("Content-Length is not a number") from None
            self._mode = "length" if self._left > 0 else "done"
        else:
            self._mode = "close"
            self.reusable = False

    def _dechunk(self, data: bytes) -> bytes | None:
        """Strip chunked framing from ``data``; returns the payload it carried."""
        out: list[bytes] = []
        pos, n = 0, len(data)
        while pos < n:
            if self._left:
                take = min(self._left, n - pos)
                out.append(data[pos : pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._crlf = 2
            elif self._crlf:
                take = min(self._crlf, n - pos)
                pos += take
                self._crlf -= take
            else:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    self._line += data[pos:]
                    break
                line = bytes(self._line) + data[pos:end]
                self._line.clear()
                pos = end + 2
                if self._trailer:
                    if not line:  # the empty line after the last chunk (and any trailers)
                        self._mode = "done"
                        break
                    continue
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self._fail(WireProtocolError(f"bad chunk size line {line[:40]!r}"))
                    return None
                if size == 0:
                    self._trailer = True
                else:
                    self._left = size
        return b"".join(out)

    # --- requests
    def start(self, request: bytes, response: WireResponse, waiter: asyncio.Future[None]) -> None:
        self._response = response
        self._waiter = waiter
        self._head.clear()
        self._line.clear()
        self._mode = "head"
        self._left = self._crlf = 0
        self._trailer = False
        assert self.transport is not None
        self.transport.write(request)

    def _finish(self) -> None:
        assert self._response is not None
        self._response.end_perf = _perf()
        self._mode = "done"
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, exc: Exception) -> None:
        self.reusable = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()


class WirePool:
    """Keep-alive connections to one origin (``http`` or ``https``)."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: float = 10.0,
        idle_timeout_s: float = 300.0,
        total_timeout_s: float | None = None,
        user_agent: str = "modelatlas",
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported URL for the wire transport: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.tls = parts.scheme == "https"
        default_port = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if self.port == default_port else f"{host}:{self.port}"
        self.connect_timeout_s = connect_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.total_timeout_s = total_timeout_s
        self.user_agent = user_agent
        self._idle: list[_Conn] = []
        self._all: set[_Conn] = set()
        self.connections_opened = 0
        """Connections this pool has made (keep-alive reuse keeps it at the peak in flight)."""
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if self.tls else None

    def request_bytes(self, body: bytes, headers: dict[str, str]) -> bytes:
        """A ``POST`` of ``body`` to this pool's path; header values may not hold CR or LF."""
        lines = [
            f"POST {self.path} HTTP/1.1",
            f"Host: {self.host_header}",
            f"User-Agent: {self.user_agent}",
            "Accept: */*",
            "Accept-Encoding: identity",
            f"Content-Length: {len(body)}",
        ]
        for name, value in headers.items():
            if any(c in name or c in value for c in "\r\n") or ":" in name:
                raise ValueError(f"HTTP header {name!r} holds a line break or colon")
            if name.lower() not in ("host", "content-length", "accept-encoding"):
                lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, conn = await loop.create_connection(
                    _Conn,
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self.tls else None,
                )
        except TimeoutError:
            raise WireConnectError(f"connect timeout after {self.connect_timeout_s}s") from None
        except socket.gaierror:
            raise WireConnectError(f"the host name {self.host} could not be resolved") from None
        except ssl.SSLError as exc:
            raise WireConnectError(f"TLS handshake failed: {exc.reason or exc}") from None
        except ConnectionRefusedError:
            raise WireConnectError("connection refused") from None
        except OSError as exc:
            raise WireConnectError(exc.strerror or type(exc).__name__) from None
        self._all.add(conn)
        self.connections_opened += 1
        return conn

    async def post(self, request: bytes, response: WireResponse) -> None:
        """Send ``request`` (from :meth:`request_bytes`) and fill ``response`` until it ends.

        A reused connection that the server had closed meanwhile fails before any byte comes
        back; the request is then sent once more on a new connection.
        """
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                try:
                    await self._exchange(conn, request, response)
                    return
                except ConnectionError:
                    if response.headers_perf is not None:
                        raise
                    response.times.clear()
                    response.chunks.clear()
        await self._exchange(await self._connect(), request, response)

    async def _exchange(self, conn: _Conn, request: bytes, response: WireResponse) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        conn.last_perf = _perf()
        conn.start(request, response, waiter)
        idle = self.idle_timeout_s

        timer: list[asyncio.TimerHandle] = []

        def check_idle() -> None:
            if waiter.done():
                return
            quiet = _perf() - conn.last_perf
            if quiet >= idle:
                waiter.set_exception(TimeoutError(f"no bytes for {idle}s"))
                return
            timer[0] = loop.call_later(idle - quiet, check_idle)

        timer.append(loop.call_later(idle, check_idle))
        ok = False
        try:
            async with asyncio.timeout(self.total_timeout_s):
                await waiter
            ok = True
        finally:
            timer[0].cancel()
            if ok and conn.reusable and not conn.closed:
                self._idle.append(conn)
            else:
                conn.abort()
                self._all.discard(conn)

    async def close(self) -> None:
        for conn in list(self._all):
            with contextlib.suppress(Exception):
                if conn.transport is not None:
                    conn.transport.close()
        self._all.clear()
        self._idle.clear()
        await asyncio.sleep(0)
