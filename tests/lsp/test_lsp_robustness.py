"""Bad input gets an error or null, never a crash; a huge file does not hold up other requests."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from lsp_helpers import (
    SYNTAX_ERROR_SOURCE,
    codes,
    open_document,
    replace_all,
    server_command,
    server_env,
    wait_for_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

TRAINING_BLOCK = '''

class Block{n}(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.norm = nn.LayerNorm(16)

    def forward(self, x):
        out = F.relu(self.fc(x))
        out = self.norm(out)
        return out * 0.5 + x


def train_step_{n}(model, batch, optimizer):
    optimizer.zero_grad()
    prediction = model(batch["x"])
    loss = F.mse_loss(prediction, batch["y"])
    loss.backward()
    optimizer.step()
    return loss.item()
'''


def huge_module(lines: int) -> str:
    parts = ["import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"]
    n = 0
    while sum(part.count("\n") for part in parts) < lines:
        parts.append(TRAINING_BLOCK.format(n=n))
        n += 1
    return "".join(parts)


async def hover(client: LanguageClient, uri: str, line: int = 0, character: int = 0):
    return await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=character)
        )
    )


async def test_unknown_method_gets_an_error_and_the_server_lives_on(client: LanguageClient, project):
    with pytest.raises(JsonRpcException):
        await client.protocol.send_request_async("gradwatch/noSuchMethod", {})
    uri = open_document(client, project / "alive.py", SYNTAX_ERROR_SOURCE)
    assert codes(await wait_for_diagnostics(client, uri, version=1)) == ["GW001"]


async def test_unknown_documents_and_positions_get_null(client: LanguageClient, project):
    missing = (project / "never_opened.py").as_uri()
    assert await hover(client, missing) is None
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=missing),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert not actions
    uri = open_document(client, project / "short.py", SYNTAX_ERROR_SOURCE)
    await wait_for_diagnostics(client, uri, version=1)
    assert await hover(client, uri, line=500, character=3) is None
    past_end = await hover(client, uri, line=1, character=9999)  # clamped to the line end, no error
    assert past_end is None or "GW001" in past_end.contents.value
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    # Notifications about documents the server does not know are ignored.
    replace_all(client, missing, "", "x = 1\n", version=2)
    assert await hover(client, uri) is None


async def test_documents_in_other_languages_are_left_alone(client: LanguageClient, project):
    toml = (project / "pyproject.toml").as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=toml, language_id="toml", version=1, text="[tool.x]\na = 1\n")
        )
    )
    replace_all(client, toml, "[tool.x]\na = 1\n", "[tool.y]\n", version=2)
    uri = open_document(client, project / "after.py", SYNTAX_ERROR_SOURCE)
    await wait_for_diagnostics(client, uri, version=1)
    assert [p for p in client.published if p.uri == toml] == []


async def test_an_engine_failure_leaves_no_stale_diagnostics(client: LanguageClient, project):
    uri = open_document(client, project / "crash.py", SYNTAX_ERROR_SOURCE)
    (before,) = await wait_for_diagnostics(client, uri, version=1)
    assert before.range.start.line == 1
    # Nesting this deep exhausts the parser itself.
    crashing = "x = " + "-" * 100_000 + "1\n"
    replace_all(client, uri, SYNTAX_ERROR_SOURCE, crashing, version=2)
    after = await wait_for_diagnostics(client, uri, version=2)
    assert all(d.range.start.line == 0 for d in after), after
    replace_all(client, uri, crashing, SYNTAX_ERROR_SOURCE, version=3)
    assert codes(await wait_for_diagnostics(client, uri, version=3)) == ["GW001"]


async def test_huge_file_does_not_block_requests(client: LanguageClient, project):
    small = open_document(client, project / "small.py", SYNTAX_ERROR_SOURCE)
    (diagnostic,) = await wait_for_diagnostics(client, small, version=1)
    text = huge_module(20_000)
    assert text.count("\n") >= 20_000
    big = open_document(client, project / "huge.py", text)
    await asyncio.sleep(0.05)
    started = time.monotonic()
    answer = await hover(client, small, diagnostic.range.start.line, diagnostic.range.start.character)
    latency = time.monotonic() - started
    analysed = big in client.diagnostics
    assert answer is not None and "GW001" in answer.contents.value
    assert latency < 1.0, f"hover took {latency:.2f}s while the big file was analysed (done already: {analysed})"
    await wait_for_diagnostics(client, big, version=1)


async def test_malformed_messages_get_error_responses(tmp_path):
    """Below the typed client: broken params and an unparsable body, over raw JSON-RPC."""
    process = await asyncio.create_subprocess_exec(
        *server_command(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=server_env(),
    )

    def send(payload: bytes) -> None:
        process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(payload) + payload)

    async def response(message_id: int) -> dict:
        while True:
            headers = {}
            while (line := await process.stdout.readline()).strip():
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            message = json.loads(await process.stdout.readexactly(int(headers["content-length"])))
            if message.get("id") == message_id and "method" not in message:
                return message

    try:
        send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}).encode())
        assert "capabilities" in (await asyncio.wait_for(response(1), 20))["result"]
        send(json.dumps({"jsonrpc": "2.0", "method": "initialized", "params": {}}).encode())
        bad_hover = {"textDocument": {"uri": 5}, "position": {"line": "first"}}
        send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "textDocument/hover", "params": bad_hover}).encode())
        assert "error" in await asyncio.wait_for(response(2), 20)
        send(b"{this is not json")
        valid_hover = {"textDocument": {"uri": "file:///nowhere.py"}, "position": {"line": 0, "character": 0}}
        send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "textDocument/hover", "params": valid_hover}).encode())
        assert (await asyncio.wait_for(response(3), 20)).get("result") is None
        assert process.returncode is None
    finally:
        process.kill()
        await process.wait()
