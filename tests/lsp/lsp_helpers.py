"""Helpers for the end-to-end tests of `gradwatch serve` (the real server, a subprocess, over stdio)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features
from pygls.protocol import default_converter

REPO = Path(__file__).absolute().parents[2]
SERVER_DIR = REPO / "server"
if str(SERVER_DIR) not in sys.path:  # the tests re-check edited text with the engine itself
    sys.path.insert(0, str(SERVER_DIR))

# Short, so the tests do not sit in the debounce; one test checks the default.
TEST_DEBOUNCE_MS = 20
WAIT_SECONDS = 20.0

# The hazards the product promises to catch (see the rule examples).
GW101_SOURCE = """import torch
x = torch.randn(3, requires_grad=True)
y = x.detach()
y.sum().backward()
"""
GW101_LINE = 3  # 0-based: the backward call

GW201_SOURCE = """import torch
x = torch.randn(3, requires_grad=True)
y = x.sigmoid()
y.add_(1)
y.sum().backward()
"""
GW201_LINE = 3  # the in-place op

GW203_SOURCE = """import torch
x = torch.randn(3, requires_grad=True)
y = x * 2
y.add_(x)
y.sum().backward()
"""
GW203_LINE = 3

SYNTAX_ERROR_SOURCE = "import torch\ndef broken(:\n    pass\n"


def server_env() -> dict[str, str]:
    existing = os.environ.get("PYTHONPATH")
    python_path = str(SERVER_DIR) + (os.pathsep + existing if existing else "")
    return {**os.environ, "PYTHONPATH": python_path}


def server_command() -> list[str]:
    return [sys.executable, "-m", "gradwatch.lsp", "--stdio"]


def _record_diagnostics(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
    client.diagnostics[params.uri] = params.diagnostics
    client.published.append(params)


def make_client() -> LanguageClient:
    """pytest-lsp's client, which also keeps every publishDiagnostics (with its version) in order."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []
    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = _record_diagnostics
    register_lsp_features(client, features)
    return client


CONFIG = ClientServerConfig(server_command=server_command(), server_env=server_env(), client_factory=make_client)


def capabilities(pull: bool = False) -> types.ClientCapabilities:
    """What a full-featured editor announces; `pull` adds pull diagnostics."""
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf16]),
        workspace=types.WorkspaceClientCapabilities(
            configuration=True,
            workspace_folders=True,
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
            did_change_configuration=types.DidChangeConfigurationClientCapabilities(),
            diagnostics=types.DiagnosticWorkspaceClientCapabilities(refresh_support=True) if pull else None,
        ),
        text_document=types.TextDocumentClientCapabilities(
            synchronization=types.TextDocumentSyncClientCapabilities(did_save=True),
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
                related_information=True,
                version_support=True,
                code_description_support=True,
                tag_support=types.ClientDiagnosticsTagOptions(value_set=list(types.DiagnosticTag)),
            ),
            diagnostic=types.DiagnosticClientCapabilities(related_information=True, code_description_support=True)
            if pull
            else None,
            hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown, types.MarkupKind.PlainText]),
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(value_set=list(types.CodeActionKind))
                ),
                is_preferred_support=True,
            ),
        ),
        notebook_document=types.NotebookDocumentClientCapabilities(
            synchronization=types.NotebookDocumentSyncClientCapabilities()
        ),
        window=types.WindowClientCapabilities(),
    )


async def start_session(
    client: LanguageClient,
    folders: list[Path],
    options: dict[str, Any] | None = None,
    pull: bool = False,
) -> None:
    options = {"debounce": TEST_DEBOUNCE_MS} if options is None else options
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(pull),
            root_uri=folders[0].as_uri() if folders else None,
            workspace_folders=[types.WorkspaceFolder(uri=f.as_uri(), name=f.name) for f in folders] or None,
            initialization_options=options,
        )
    )


# -- helpers ---------------------------------------------------------------------


async def until(condition: Callable[[], Any], timeout: float = WAIT_SECONDS, what: str = "condition") -> Any:
    """Poll `condition` until it is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.01)


async def wait_for_diagnostics(
    client: LanguageClient, uri: str, version: int | None = None, after: int = 0
) -> list[types.Diagnostic]:
    """The first diagnostics for `uri` published (after the `after`-th publication) for `version`."""

    def found():
        for params in client.published[after:]:
            if params.uri == uri and (version is None or params.version == version):
                return params
        return None

    params = await until(found, what=f"diagnostics for {uri} version {version}")
    return list(params.diagnostics)


def open_document(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        )
    )
    return uri


def close_document(client: LanguageClient, uri: str) -> None:
    identifier = types.TextDocumentIdentifier(uri=uri)
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=identifier))


def replace_all(client: LanguageClient, uri: str, old_text: str, new_text: str, version: int) -> None:
    """An incremental change replacing the whole text (the range covers all of `old_text`)."""
    lines = old_text.split("\n")
    end = types.Position(line=len(lines) - 1, character=utf16_length(lines[-1]))
    change_text(client, uri, types.Range(start=types.Position(line=0, character=0), end=end), new_text, version)


def change_text(client: LanguageClient, uri: str, range: types.Range, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=range, text=text)],
        )
    )


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def offset_of(text: str, position: types.Position) -> int:
    """Index into `text` of an LSP position (UTF-16 columns), computed independently of the server."""
    lines = text.split("\n")
    offset = sum(len(line) + 1 for line in lines[: position.line])
    line = lines[position.line] if position.line < len(lines) else ""
    units = 0
    for index, char in enumerate(line):
        if units >= position.character:
            return offset + index
        units += 2 if ord(char) > 0xFFFF else 1
    return offset + len(line)


def apply_edits(text: str, edits: list[types.TextEdit]) -> str:
    located = sorted(
        ((offset_of(text, e.range.start), offset_of(text, e.range.end), e.new_text) for e in edits), reverse=True
    )
    for start, end, new_text in located:
        text = text[:start] + new_text + text[end:]
    return text


def edits_for(edit: types.WorkspaceEdit, uri: str) -> list[types.TextEdit]:
    edits: list[types.TextEdit] = []
    if edit.changes:
        edits += list(edit.changes.get(uri, []))
    for change in edit.document_changes or []:
        if isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri:
            edits += list(change.edits)
    return edits


def codes(diagnostics) -> list[str]:
    return [d.code for d in diagnostics]


def diagnostic_keys(diagnostics) -> list[tuple]:
    """What must match between two sets of diagnostics: code, severity and exact range."""
    return sorted(
        (d.code, d.severity, d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character)
        for d in diagnostics
    )


def fresh_diagnostic_keys(text: str) -> list[tuple]:
    """`diagnostic_keys` of a fresh `check_source` of `text`, placed on LSP's lines (UTF-16 columns)."""
    from gradwatch.checker import check_source
    from gradwatch.lsp.convert import LineCoder, diagnostic, split_lines

    coder = LineCoder(split_lines(text))
    return diagnostic_keys(diagnostic(f, coder.range(f.span), []) for f in check_source(text).findings)


class RawServer:
    """The server over raw JSON-RPC, for messages the typed client cannot send (e.g. the number 1e309).

    Requests from the server are answered as they arrive: workspace/configuration with
    `configuration` (raw JSON text of the result), everything else with null.
    Notifications are kept in `notifications`.
    """

    def __init__(self, configuration: str = "[]") -> None:
        self.configuration = configuration
        self.notifications: list[dict] = []
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *server_command(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=server_env(),
        )

    def send(self, body: str) -> None:
        payload = body.encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(payload) + payload)

    def request(self, message_id: int, method: str, params_json: str) -> None:
        self.send(f'{{"jsonrpc": "2.0", "id": {message_id}, "method": "{method}", "params": {params_json}}}')

    def notify(self, method: str, params: Any) -> None:
        self.send(json.dumps({"jsonrpc": "2.0", "method": method, "params": params}))

    async def response(self, message_id: int, timeout: float = WAIT_SECONDS) -> dict:
        """The response to request `message_id`, handling whatever the server sends meanwhile."""

        async def read() -> dict:
            while True:
                message = await self._next_message()
                if message.get("id") == message_id and "method" not in message:
                    return message

        return await asyncio.wait_for(read(), timeout)

    async def _next_message(self) -> dict:
        headers = {}
        while (line := await self.process.stdout.readline()).strip():
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        message = json.loads(await self.process.stdout.readexactly(int(headers["content-length"])))
        if "method" in message and "id" in message:  # a request from the server
            result = self.configuration if message["method"] == "workspace/configuration" else "null"
            self.send(f'{{"jsonrpc": "2.0", "id": {json.dumps(message["id"])}, "result": {result}}}')
        elif "method" in message:
            self.notifications.append(message)
        return message

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
