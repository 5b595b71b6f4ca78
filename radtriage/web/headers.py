"""Security headers on every answer of the web station (pages, assets, refusals, the WebSocket handshake).

The policy allows what the trame client needs: its scripts from the station (Vue compiles templates at run time:
``'unsafe-eval'``; the page has one inline script), inline styles, streamed view images (``blob:``/``data:``)
and the WebSocket back to the station; nothing may frame the station and no address leaks in a Referer.
"""

from __future__ import annotations

from typing import Any

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self' {ws}",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def security_headers(host: str, secure: bool = False) -> dict[str, str]:
    """The headers for an answer to a request that named ``host`` (already checked by the access middleware)."""
    ws = f"{'wss' if secure else 'ws'}://{host}"
    return {"Content-Security-Policy": CONTENT_SECURITY_POLICY.format(ws=ws), **SECURITY_HEADERS}


async def add_security_headers(request: Any, response: Any) -> None:
    """aiohttp ``on_response_prepare`` handler: set the security headers (keeping any a handler set)."""
    for name, value in security_headers(request.host, request.secure).items():
        response.headers.setdefault(name, value)
