"""A request whose params do not fit its method still gets an answer.

pygls 2 turns undecodable params into an exception before the request is
dispatched, so the client never hears back and waits forever. Here such a
request is answered with the JSON-RPC error, and the message is dropped.
"""

from __future__ import annotations

import logging
from typing import Any

from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger(__name__)


class _Rejected:
    # pygls skips a message whose jsonrpc version is not "2.0" (with a log line).
    jsonrpc = None


class GradwatchProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if "id" not in data or "method" not in data:
                raise
            log.warning("rejected %s request %r: %s", data.get("method"), data.get("id"), error.message)
            self._send_response(data["id"], error=error.to_response_error())
            return _Rejected()
