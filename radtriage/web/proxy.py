"""Forward one admitted request — HTTP or the WebSocket — to a station process on a loopback port.

The front has already checked Host, Origin and the reader's token: the station behind sees a request for its own
address, with its own token (``Authorization: Bearer``) and none of the browser's cookies; its answer comes back
without cookies or security headers (the front sets its own).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import ClientSession, WSMsgType, web

from radtriage.web.headers import security_headers
from radtriage.web.wslink_guard import MAX_MESSAGE_BYTES

WS_OVERHEAD = 4096
HEARTBEAT_S = 30.0
REQUEST_DROPPED = frozenset({
    "host", "cookie", "authorization", "origin", "referer", "connection", "keep-alive", "upgrade", "te",
    "trailer", "transfer-encoding", "proxy-authorization", "content-length",
})
RESPONSE_DROPPED = frozenset({
    "set-cookie", "connection", "keep-alive", "transfer-encoding", "content-length", "server", "date",
    *(name.lower() for name in security_headers("h")),
})


def _request_headers(request: web.Request, token: str) -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items()
               if k.lower() not in REQUEST_DROPPED and not k.lower().startswith(("sec-websocket", "sec-fetch"))}
    headers["Authorization"] = f"Bearer {token}"
    return headers


async def forward_http(session: ClientSession, request: web.Request, base: str, token: str) -> web.Response:
    """Send ``request`` to the station at ``base`` (``http://127.0.0.1:PORT``) and return its answer as it is
    (redirects and compressed bodies included)."""
    async with session.request(request.method, base + request.rel_url.path_qs, headers=_request_headers(request, token),
                               data=await request.read() if request.body_exists else None,
                               allow_redirects=False) as answer:
        body = await answer.read()
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in RESPONSE_DROPPED}
        return web.Response(status=answer.status, body=body, headers=headers)


async def _pump(source: Any, target: Any) -> None:
    async for message in source:
        if message.type == WSMsgType.BINARY:
            await target.send_bytes(message.data)
        elif message.type == WSMsgType.TEXT:
            await target.send_str(message.data)


async def forward_websocket(session: ClientSession, request: web.Request, base: str, token: str) -> Any:
    """Join the browser's WebSocket to the station's, message by message, until either side closes; messages
    over the station's size limit close the connection at the front already."""
    limit = MAX_MESSAGE_BYTES + WS_OVERHEAD
    front = web.WebSocketResponse(max_msg_size=limit, heartbeat=HEARTBEAT_S)
    await front.prepare(request)
    url = "ws" + base.removeprefix("http") + request.rel_url.path_qs
    async with session.ws_connect(url, headers={"Authorization": f"Bearer {token}"}, max_msg_size=limit,
                                  heartbeat=HEARTBEAT_S) as back:
        pumps = [asyncio.ensure_future(_pump(front, back)), asyncio.ensure_future(_pump(back, front))]
        _, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pending:
            pump.cancel()
    await front.close()
    return front
