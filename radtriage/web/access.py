"""Who may open the web station: holders of the per-launch token, from the station's own origin only.

Every start requires a token (``--token`` or one generated and printed once in the ready URL, as Jupyter does),
on loopback too. The browser opens ``http://host:port/?token=...`` once; the answer sets an HttpOnly cookie
whose name includes the port (two stations on one host do not clash) and redirects to the page without the
token. The Host header must name this station and an Origin header (every WebSocket upgrade and cross-origin
fetch from a browser carries one) must be the station's own origin or one of ``--allowed-origin``, so no page
of another origin — another port of the same host included — can read or drive the station. Refused requests
are logged with the client address, at a bounded rate.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlencode, urlsplit

logger = logging.getLogger(__name__)

TOKEN_QUERY = "token"
SECRET_QUERY = "secret"
"""The trame client reads the wslink secret from this query parameter and removes it from the address bar."""
COOKIE_PREFIX = "radtriage_token_"
TOKEN_BYTES = 24
"""Generated tokens: 192 random bits."""
MIN_TOKEN_CHARS = 16
WS_PATH = "/ws"
MAX_CONNECTIONS = 8
PAGE_PATHS = ("/", "/index.html")
WILDCARD_HOSTS = ("", "0.0.0.0", "::")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
FOREIGN_SITES = ("same-site", "cross-site")
"""Sec-Fetch-Site values of requests made by another origin's page (all ports of a host are one site)."""


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A fresh random token (URL-safe, 192 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def resolve_token(token: str | None) -> str:
    """The token the server will require: the given one (at least :data:`MIN_TOKEN_CHARS` characters, no
    spaces), else a fresh random one. Raises ValueError for a token too short to resist guessing."""
    if token is None:
        return new_token()
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise ValueError(f"the token must be at least {MIN_TOKEN_CHARS} characters without spaces "
                         "(leave --token out to get a random one)")
    return token


def cookie_name(port: int) -> str:
    """The name of the token cookie of the station on ``port`` (cookies are shared by all ports of a host)."""
    return f"{COOKIE_PREFIX}{port}"


def token_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def presented_token(query: Mapping[str, str], cookies: Mapping[str, str], headers: Mapping[str, str],
                    port: int) -> str | None:
    """The token a request carries: ``?token=``, the station's cookie or ``Authorization: Bearer``."""
    if TOKEN_QUERY in query:
        return query[TOKEN_QUERY]
    if cookie_name(port) in cookies:
        return cookies[cookie_name(port)]
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def split_host(host: str) -> tuple[str, int | None]:
    """``host[:port]`` of a Host header as (lower-case name without brackets, port or None); ValueError if bad."""
    parts = urlsplit(f"//{host}")
    if not parts.hostname:
        raise ValueError(f"no host name in {host!r}")
    return parts.hostname.lower(), parts.port


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Origins:
    """The Host names and Origins a station answers: its bind address (any IP literal on a wildcard bind), the
    machine's own names, and the origins of ``--allowed-origin`` (a reverse proxy's public address)."""

    bind_host: str
    allowed_origins: tuple[str, ...] = ()
    machine_names: tuple[str, ...] = ()

    @classmethod
    def for_bind(cls, bind_host: str, allowed_origins: Iterable[str] = ()) -> Origins:
        """Origins of a station bound to ``bind_host`` (with the machine's names unless it is loopback); each
        allowed origin is checked and normalised."""
        names = () if is_loopback(bind_host) else _machine_names()
        return cls(bind_host, tuple(normalise_origin(o) for o in allowed_origins), names)

    def host_allowed(self, host: str, local_port: int) -> bool:
        """Whether a Host header names this station (on the port the request came in) or an allowed origin."""
        try:
            name, port = split_host(host)
        except ValueError:
            return False
        if any(host_of(origin) == (name, port) for origin in self.allowed_origins):
            return True
        if (80 if port is None else port) != local_port:
            return False
        bind = self.bind_host.strip("[]").lower()
        if name in (bind, *LOOPBACK_NAMES):
            return True
        if is_loopback(bind):
            return False
        return name in self.machine_names or (bind in WILDCARD_HOSTS and _is_ip(name))

    def origin_allowed(self, origin: str | None, scheme: str, host: str) -> bool:
        """Whether an Origin header (None: not sent) is this station's own (``scheme://host``) or allowed."""
        if origin is None:
            return True
        origin = origin.strip().lower().rstrip("/")
        return origin == f"{scheme}://{host}".lower() or origin in self.allowed_origins


def _machine_names() -> tuple[str, ...]:
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    return tuple(sorted(n for n in names if n))


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case; ValueError for anything else (a path, no scheme, a wildcard)."""
    parts = urlsplit(origin.strip().lower().rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
    return f"{parts.scheme}://{parts.netloc}"


def host_of(origin: str) -> tuple[str, int | None]:
    """(name, port) an allowed origin's requests carry in their Host header (the default port is left out)."""
    parts = urlsplit(origin)
    return (parts.hostname or "", parts.port)


class RefusalLog:
    """Logs refused requests with the client address: at most ``burst`` lines per ``window_s`` seconds; the
    rest are counted and the count is logged with the next line."""

    def __init__(self, burst: int = 20, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.burst, self.window_s, self.clock = burst, window_s, clock
        self.window_start = clock()
        self.logged = 0
        self.suppressed = 0

    def refused(self, remote: str | None, method: str, path: str, why: str) -> bool:
        """Record one refusal; returns whether it was logged."""
        now = self.clock()
        if now - self.window_start >= self.window_s:
            self.window_start, self.logged = now, 0
        if self.logged >= self.burst:
            self.suppressed += 1
            return False
        self.logged += 1
        more = f" ({self.suppressed} more refused, not logged)" if self.suppressed else ""
        self.suppressed = 0
        logger.warning("refused %s %s from %s: %s%s", method, path, remote or "?", why, more)
        return True


def _local_port(request: Any) -> int:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname else 0


def _page_location(query: Mapping[str, str], secret: str | None) -> str:
    """Where a page request is sent: the page without the token, with the wslink secret the client reads."""
    kept = [(k, v) for k, v in query.items() if k not in (TOKEN_QUERY, SECRET_QUERY)]
    if secret is not None:
        kept.append((SECRET_QUERY, secret))
    return "index.html" + (f"?{urlencode(kept)}" if kept else "")


TOKEN_KEY = "radtriage_token"
"""Where the middleware leaves the token a request was admitted with (``request[TOKEN_KEY]``)."""


def access_middleware(tokens: Collection[str], origins: Origins, *, secret: str | None = None,
                      max_connections: int = MAX_CONNECTIONS, refusals: RefusalLog | None = None) -> Any:
    """An aiohttp middleware: 403 for a foreign Host or Origin, a resource fetched by another site or none of
    ``tokens``, 503 beyond ``max_connections`` WebSockets; a valid ``?token=`` sets the cookie and redirects to
    the same page without it. With a wslink ``secret`` the page is sent to ``index.html?secret=...``, where the
    trame client reads the secret that authenticates its WebSocket (the launcher's front, which has none, leaves
    this to the station behind it)."""
    from aiohttp import web

    log = refusals or RefusalLog()
    open_sockets: set[int] = set()

    def refuse(request: web.Request, why: str, status: type[web.HTTPException] = web.HTTPForbidden) -> NoReturn:
        log.refused(request.remote, request.method, request.path, why)
        raise status(text=f"radtriage serve: {why}")

    def redirect(request: web.Request, port: int, token: str) -> NoReturn:
        page = request.path in PAGE_PATHS
        target = _page_location(request.query, secret) if page else request.path
        found = web.HTTPFound(target)
        if TOKEN_QUERY in request.query:  # the token moves from the address bar to the cookie
            found.set_cookie(cookie_name(port), token, httponly=True, samesite="Strict", path="/")
        raise found

    @web.middleware
    async def check_access(request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]) -> Any:
        port = _local_port(request)
        if not origins.host_allowed(request.host, port):
            refuse(request, f"Host {request.host!r} is not this station")
        if not origins.origin_allowed(request.headers.get("Origin"), request.scheme, request.host):
            refuse(request, f"Origin {request.headers.get('Origin')!r} is not allowed")
        site = request.headers.get("Sec-Fetch-Site")
        if site in FOREIGN_SITES and request.headers.get("Sec-Fetch-Mode") != "navigate":
            refuse(request, f"a {site} page may not load this station's resources")
        given = presented_token(request.query, request.cookies, request.headers, port)
        matched = [t for t in tokens if token_matches(t, given)]  # every token compared: no early exit
        if not matched:
            refuse(request, "a valid token is required (open the URL printed at start)")
        request[TOKEN_KEY] = matched[0]
        if TOKEN_QUERY in request.query or (secret is not None and request.path in PAGE_PATHS
                                            and request.query.get(SECRET_QUERY) != secret):
            redirect(request, port, matched[0])
        if request.path != WS_PATH:
            return await handler(request)
        if len(open_sockets) >= max_connections:
            refuse(request, f"too many connections (at most {max_connections})", web.HTTPServiceUnavailable)
        key = id(request)
        open_sockets.add(key)
        try:
            return await handler(request)
        finally:
            open_sockets.discard(key)

    return check_access


def install_access(server: Any, token: str, secret: str, origins: Origins, *,
                   max_connections: int = MAX_CONNECTIONS) -> None:
    """Guard a trame server: the per-launch wslink ``secret`` (not wslink's public default), the access middleware
    and the security headers on its aiohttp application when it binds."""
    from radtriage.web.headers import add_security_headers

    server.cli.set_defaults(authKey=secret)

    def bind(web_server: Any) -> None:
        web_server.app.middlewares.append(access_middleware([token], origins, secret=secret,
                                                            max_connections=max_connections))
        web_server.app.on_response_prepare.append(add_security_headers)

    server.controller.on_server_bind.add(bind)
