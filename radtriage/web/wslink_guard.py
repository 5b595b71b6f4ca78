"""Limits wslink itself does not offer: a bound on the size of one message, and no tracebacks to clients.

wslink lets an authenticated client announce chunked messages of up to 4 GB and allocates the announced size at
once (three 22-byte frames took a station from 0.7 to 2.7 GB); :func:`cap_message_size` bounds the allocation.
An exception in an RPC method is sent to the client with its traceback; :func:`hide_tracebacks` sends a short
error id instead and writes the detail, under that id, to the server log.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from wslink import chunking, protocol

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""The largest message a client may send (the station's messages are state updates and key presses)."""


class CappedUnChunker(chunking.UnChunker):
    """wslink's un-chunker with a ceiling on the message size it will allocate, even for an authenticated client."""

    ceiling = MAX_MESSAGE_BYTES

    def set_max_message_size(self, size: int) -> None:
        super().set_max_message_size(min(size, self.ceiling))


def cap_message_size(max_bytes: int = MAX_MESSAGE_BYTES) -> None:
    """Make every new wslink connection refuse messages over ``max_bytes`` before allocating them."""
    CappedUnChunker.ceiling = max_bytes
    protocol.UnChunker = CappedUnChunker  # wslink.protocol creates one per connection by this name


_send_error = protocol.WslinkHandler.sendWrappedError


async def _send_error_without_trace(self: Any, rpcid: Any, code: int, message: str, data: Any = None,
                                    client_id: Any = None) -> None:
    if code == protocol.EXCEPTION_ERROR and isinstance(data, dict):
        error_id = secrets.token_hex(4)
        logger.error("error %s in %s: %s\n%s", error_id, data.get("method"), data.get("exception"), data.get("trace"))
        message, data = f"internal error {error_id} (details in the server log)", {"error_id": error_id}
    await _send_error(self, rpcid, code, message, data, client_id)


def hide_tracebacks() -> None:
    """Make wslink answer a failed RPC call with an error id; the traceback goes to the server log only."""
    protocol.WslinkHandler.sendWrappedError = _send_error_without_trace
