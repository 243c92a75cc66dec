"""pygls's protocol, adapted where it falls short of LSP.

- A request whose params do not fit its method still gets an answer. pygls 2
  turns undecodable params into an exception before the request is
  dispatched, so the client never hears back and waits forever. Here such a
  request is answered with the JSON-RPC error, and the message is dropped.
- Open documents follow LSP's line rules (see `text.py`).
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from gradwatch.lsp.text import LspWorkspace

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

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        steps = super().lsp_initialize(params)
        # pygls makes its workspace before its first step (running our initialize handler),
        # and no document can arrive before initialize is answered.
        step = next(steps)
        self._workspace = LspWorkspace.replacing(self._workspace, self._server._text_document_sync_kind)
        while True:
            result = yield step
            try:
                step = steps.send(result)
            except StopIteration as done:
                return done.value
