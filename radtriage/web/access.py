"""Who may open the web station: nobody but this machine on a loopback bind; holders of the token otherwise.

On any address other than loopback a token is required (``--token`` or one generated at start and printed).
The browser opens ``http://host:port/?token=...`` once; the answer sets an HttpOnly cookie so the page's
scripts, assets and its WebSocket carry the token without it in every URL. Requests without a valid token
(query or cookie) are refused with 403 before they reach trame.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

TOKEN_QUERY = "token"
TOKEN_COOKIE = "radtriage_token"
TOKEN_BYTES = 24


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token: str | None, *, generate: Callable[[], str] | None = None) -> str | None:
    """The token the server will require: the given one, else a fresh random one when ``host`` is not loopback;
    None (no check) for a loopback bind without a token. An empty token is refused."""
    if token is not None:
        if not token.strip():
            raise ValueError("the token must not be empty")
        return token
    if is_loopback(host):
        return None
    return (generate or (lambda: secrets.token_urlsafe(TOKEN_BYTES)))()


def token_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def request_allowed(expected: str | None, query: Mapping[str, str], cookies: Mapping[str, str]) -> bool:
    """Whether a request with this query string and these cookies may pass (always, when no token is set)."""
    if expected is None:
        return True
    return token_matches(expected, query.get(TOKEN_QUERY)) or token_matches(expected, cookies.get(TOKEN_COOKIE))


def token_middleware(expected: str) -> Any:
    """An aiohttp middleware refusing (403) every request without the token; a valid ``?token=`` sets the cookie."""
    from aiohttp import web

    @web.middleware
    async def check_token(request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]) -> Any:
        if not request_allowed(expected, request.query, request.cookies):
            logger.warning("refused a request without a valid token (%s %s)", request.method, request.path)
            raise web.HTTPForbidden(text="radtriage serve: a valid token is required (open the URL printed at start)")
        response = await handler(request)
        if token_matches(expected, request.query.get(TOKEN_QUERY)) and hasattr(response, "set_cookie"):
            response.set_cookie(TOKEN_COOKIE, expected, httponly=True, samesite="Strict")
        return response

    return check_token


def install_token_check(server: Any, expected: str | None) -> None:
    """Add the token middleware to a trame server's aiohttp application when it binds (no-op without a token)."""
    if expected is None:
        return

    def bind(web_server: Any) -> None:
        web_server.app.middlewares.append(token_middleware(expected))

    server.controller.on_server_bind.add(bind)
