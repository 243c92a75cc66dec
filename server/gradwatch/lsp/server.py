"""The language server: LSP wiring only; analysis, fixes and settings live elsewhere.

Diagnostics are *pushed* (textDocument/publishDiagnostics) unless the client
says it can *pull* them (it advertises `textDocument.diagnostic`): then those
of text documents are only pulled, never also pushed, because a client that
does both shows every diagnostic twice (vscode-languageclient keeps the two in
separate collections). Notebook cells are always pushed (clients do not pull
them). Either way the same debounced, off-loop analysis feeds them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import sys
from dataclasses import replace
from importlib import metadata
from typing import Any, Hashable, Sequence
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from gradwatch import __version__
from gradwatch.collector import tune_for_analysis
from gradwatch.lsp import actions, notebooks, runtime
from gradwatch.findings import Finding
from gradwatch.lsp.documents import Analyser, Analysis, Program, single_document_program
from gradwatch.lsp.hover import hover as hover_for
from gradwatch.lsp.inlay_hints import inlay_hints
from gradwatch.lsp.protocol import GradwatchProtocol
from gradwatch.lsp.settings import RUN_ON_TYPE, SECTION, SettingsStore, folder_of
from gradwatch.lsp.trust import InterpreterPolicy

log = logging.getLogger("gradwatch.lsp")

CONFIGURATION_TIMEOUT_SECONDS = 5.0


class GradwatchServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            name="gradwatch",
            version=__version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=notebooks.sync_options(),
            protocol_cls=GradwatchProtocol,
        )
        self.settings = SettingsStore(self._show_warning)
        # Bumped on every settings change: analyses made under older settings are stale.
        self.settings_generation = 0
        # Which interpreter jedi may run; set from the command line (see main).
        self.interpreters = InterpreterPolicy()
        self.projects: dict = {}  # (workspace folder, interpreter, safe) -> CrossModule
        # A fresh number for every open and every change of a document or notebook: a result is
        # never taken for that of another open (each open starts again at version 1, say) or of a
        # change that reused a version number.
        self._revisions: dict[str, int] = {}
        self._next_revision = itertools.count(1)
        self.pull_diagnostics = False
        self.analyser = Analyser(self._build, self._state_of, self._publish, self._encoding)
        # Program key -> URIs diagnostics were last published for (to clear them when they go away).
        self._published: dict[str, set[str]] = {}
        # Findings of `gradwatch run` (.gradwatch_cache/runtime.json), merged into each document's diagnostics.
        self.runtime = runtime.RuntimeFindings()
        # Documents whose last pushed diagnostics included runtime findings.
        self._runtime_shown: set[str] = set()
        # Per program: the state and names the last inlay hints were answered from, or the programs
        # whose hints were asked for before their analysis (run on save); a publish then asks the
        # client to ask again (workspace/inlayHint/refresh).
        self._hinted: dict[str, tuple] = {}
        self._hints_deferred: set[str] = set()

    # -- documents and programs -------------------------------------------------

    def _encoding(self) -> str:
        return self.workspace.position_encoding or types.PositionEncodingKind.Utf16

    def _open_text(self, uri: str):
        # Never workspace.get_text_document: for an unknown URI it reads the file from disk.
        return self.workspace.text_documents.get(unquote(uri))

    def key_of(self, uri: str) -> str:
        """The program a document belongs to: its notebook's URI for a cell, else itself."""
        notebook = self.workspace.get_notebook_document(cell_uri=uri)
        return notebook.uri if notebook is not None else uri

    def _cells(self, notebook: types.NotebookDocument) -> list[notebooks.Cell]:
        cells = []
        for cell_uri in notebooks.code_cell_uris(notebook):
            document = self._open_text(cell_uri)
            if document is not None:
                cells.append(notebooks.Cell(document.uri, document.version, document.source))
        return cells

    def revised(self, key: str) -> None:
        """`key` (a document or notebook) was opened or changed."""
        self._revisions[key] = next(self._next_revision)

    def closed(self, key: str) -> None:
        self._revisions.pop(key, None)

    def _state_of(self, key: str) -> Hashable | None:
        notebook = self.workspace.get_notebook_document(notebook_uri=key)
        if notebook is not None:
            versions = []
            for cell_uri in notebooks.code_cell_uris(notebook):
                document = self._open_text(cell_uri)
                versions.append((cell_uri, document.version if document is not None else None))
            return (self.settings_generation, self._revisions.get(key), tuple(versions))
        document = self._open_text(key)
        if document is None:
            return None
        return (self.settings_generation, self._revisions.get(key), document.version)

    def _build(self, key: str) -> Program | None:
        state = self._state_of(key)
        if state is None:
            return None
        folder = folder_of(key, list(self.workspace.folders))
        editor = self.settings.editor_for(folder)
        rules = self.settings.rules_for(key, folder)
        path = to_fs_path(key) if key.startswith("file:") else None
        project = self._project(folder, path, editor.interpreter)
        notebook = self.workspace.get_notebook_document(notebook_uri=key)
        if notebook is not None:
            text, segments = notebooks.notebook_program(self._cells(notebook))
            return Program(key, text, segments, rules, editor.enable, path, state, notebook=True, project=project)
        document = self._open_text(key)
        program = single_document_program(key, document.version, document.source, rules, editor.enable, path, state)
        return replace(program, project=project)

    def _project(self, folder: str | None, path: str | None, interpreter: tuple[str, ...]):
        """One cross-module index per workspace folder and interpreter (jedi loads lazily)."""
        if path is None:
            return None
        root = to_fs_path(folder) if folder else os.path.dirname(path)
        choice = self.interpreters.choose(interpreter[0] if interpreter else None)
        if choice.refused is not None:
            self.settings.report_once(choice.refused)
        key = (root, choice.python, choice.safe)
        if key not in self.projects:
            from gradwatch.analysis.cross_module import CrossModule
            from gradwatch.analysis.project import ProjectIndex

            index = ProjectIndex(root, choice.python, safe=choice.safe)
            if index.problem:
                self.window_show_message(
                    types.ShowMessageParams(types.MessageType.Warning, f"gradwatch: {index.problem}")
                )
            self.projects[key] = CrossModule(index)
        return self.projects[key]

    def debounce_seconds(self, key: str) -> float | None:
        """How long to wait after a change; None: changes do not trigger analysis (run on save)."""
        editor = self.settings.editor_for(folder_of(key, list(self.workspace.folders)))
        if editor.run != RUN_ON_TYPE:
            return None
        return editor.debounce_ms / 1000.0

    def analyse_all(self) -> None:
        for key in self.analyser.keys():
            self.analyser.schedule(key)

    # -- publishing --------------------------------------------------------------

    def _publish(self, analysis: Analysis) -> None:
        key = analysis.program.key
        previous = self._published.get(key, set())
        now = {segment.uri for segment in analysis.program.segments}
        # Notebook cells are pushed even to a client that pulls: vscode-languageclient pulls only for
        # documents it opened as text documents, never for cells synced through notebookDocument/*.
        if not self.pull_diagnostics or analysis.program.notebook:
            # Every document of the program, even without findings: that is what clears old ones.
            for segment in analysis.program.segments:
                diagnostics = analysis.diagnostics_for(segment.uri) + self.runtime_diagnostics(analysis.program)
                self._send(segment.uri, diagnostics, segment.version)
            for uri in previous - now:
                self._send(uri, [], None)  # a cell that left the notebook
        self._published[key] = now
        hinted = self._hinted.get(key)
        if key in self._hints_deferred or (
            hinted is not None and hinted[0] == analysis.program.state and hinted[1] != analysis.names
        ):  # answered before this analysis, or the cross-module pass changed what was shown
            self._hints_deferred.discard(key)
            self.refresh_inlay_hints()

    def hints_answered(self, key: str, analysis: Analysis | None) -> None:
        """Inlay hints of `key` were answered from `analysis`, or (None) before there was one."""
        if analysis is None:
            self._hints_deferred.add(key)
            self._hinted.pop(key, None)
        else:
            self._hints_deferred.discard(key)
            self._hinted[key] = (analysis.program.state, analysis.names)

    def refresh_inlay_hints(self) -> None:
        if self._client_can("workspace.inlay_hint.refresh_support"):
            self.workspace_inlay_hint_refresh(None)

    def clear(self, key: str) -> None:
        self._runtime_shown.discard(key)
        self._hinted.pop(key, None)
        self._hints_deferred.discard(key)
        for uri in self._published.pop(key, set()):
            self._send(uri, [], None)

    # -- runtime findings (gradwatch run) -----------------------------------------

    def _folder_paths(self) -> list[str]:
        folders = [to_fs_path(folder.uri) for folder in self.workspace.folders.values()]
        if not folders and self.workspace.root_path:
            folders = [self.workspace.root_path]
        return [folder for folder in folders if folder]

    def runtime_findings(self, uri: str, text: str, settings=None) -> list[Finding]:
        """Findings of the last `gradwatch run` for the file `uri` while it reads as it did then."""
        if not uri.startswith("file:"):
            return []
        try:
            path = to_fs_path(uri)
            if not path:
                return []
            found = self.runtime.findings_for(path, text, self._folder_paths())
        except Exception:  # a file system surprise must not cost the static diagnostics
            log.exception("reading runtime findings for %s failed", uri)
            return []
        if settings is not None:
            found = [
                replace(finding, severity=settings.severity_for(finding.code, finding.severity))
                for finding in found
                if settings.enabled(finding.code)
            ]
        return found

    def runtime_diagnostics(self, program: Program) -> list[types.Diagnostic]:
        """Runtime diagnostics of a text document's program (notebooks never have any)."""
        if program.notebook or not program.enabled:
            self._runtime_shown.discard(program.key)
            return []
        found = self.runtime_findings(program.key, program.text, program.settings)
        if found:
            self._runtime_shown.add(program.key)
        else:
            self._runtime_shown.discard(program.key)
        return runtime.diagnostics(found, program.key, program.text, self._encoding())

    def runtime_edited(self, uri: str) -> None:
        """`uri` changed: if it showed runtime findings that no longer apply, clear them now, not at the
        next analysis (which, with run-on-save, waits for a save)."""
        if self.pull_diagnostics or uri not in self._runtime_shown:
            return
        document = self._open_text(uri)
        analysis = self.analyser.latest(uri)
        if document is None or analysis is None or self.runtime_findings(uri, document.source):
            return
        self._runtime_shown.discard(uri)
        self._send(uri, analysis.diagnostics_for(uri), None)

    def runtime_files_changed(self, paths: list[str] | None = None) -> None:
        """A runtime.json was written or removed: show what it says in every open document."""
        changed = False
        for path in paths if paths is not None else self.runtime.known():
            try:
                changed |= self.runtime.refresh(path)
            except Exception:
                log.exception("reading %s failed", path)
        if paths is not None and not changed:
            return
        if self.pull_diagnostics:
            if self._client_can("workspace.diagnostics.refresh_support"):
                self.workspace_diagnostic_refresh(None)
            return
        for key in self.analyser.keys():
            analysis = self.analyser.cached(key)
            if analysis is None:
                self.analyser.schedule(key)
            elif not analysis.program.notebook:
                self._publish(analysis)

    async def watch_runtime_files(self) -> None:
        """Ask the client to tell us when a runtime.json changes (didChangeWatchedFiles)."""
        if not self._client_can("workspace.did_change_watched_files.dynamic_registration"):
            log.info("the client cannot watch files for us: runtime.json is re-read when diagnostics are computed")
            return
        options = types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern=runtime.WATCH_PATTERN)]
        )
        registration = types.Registration(
            id="gradwatch-runtime-json", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options
        )
        try:
            await asyncio.wait_for(
                self.client_register_capability_async(types.RegistrationParams(registrations=[registration])),
                CONFIGURATION_TIMEOUT_SECONDS,
            )
        except Exception as error:
            log.warning("registering the runtime.json watcher failed: %r", error)

    def _send(self, uri: str, diagnostics: list[types.Diagnostic], version: int | None) -> None:
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version)
        )

    # -- settings ----------------------------------------------------------------

    def _show_warning(self, message: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=message))

    def _client_can(self, path: str) -> bool:
        value: Any = self.client_capabilities
        for part in path.split("."):
            value = getattr(value, part, None)
            if value is None:
                return False
        return bool(value)

    async def pull_configuration(self) -> None:
        """Ask the client for the "gradwatch" section, globally and per workspace folder."""
        if not self._client_can("workspace.configuration"):
            return
        folders = list(self.workspace.folders.values())
        items = [types.ConfigurationItem(section=SECTION)]
        items += [types.ConfigurationItem(scope_uri=folder.uri, section=SECTION) for folder in folders]
        try:
            results = await asyncio.wait_for(
                self.workspace_configuration_async(types.ConfigurationParams(items=items)),
                CONFIGURATION_TIMEOUT_SECONDS,
            )
        except Exception as error:  # a client that cannot answer keeps the settings we have
            log.warning("workspace/configuration failed: %r", error)
            return
        results = list(results or [])
        if results and results[0] is not None:
            self.settings.set_global(results[0])
        for folder, value in zip(folders, results[1:]):
            self.settings.set_folder(folder.uri, value)

    def settings_changed(self) -> None:
        self.settings_generation += 1
        self.runtime.forget_roots()
        self.settings.forget_project_files()
        self.analyse_all()
        if self.pull_diagnostics and self._client_can("workspace.diagnostics.refresh_support"):
            self.workspace_diagnostic_refresh(None)
        self.refresh_inlay_hints()  # e.g. gradwatch.inlayHints.shapes was turned off

    def log_start_up(self) -> None:
        def version(package: str) -> str:
            try:
                return metadata.version(package)
            except metadata.PackageNotFoundError:
                return "not installed"

        message = (
            f"gradwatch {__version__} language server; Python {sys.version.split()[0]} ({sys.executable}); "
            f"pygls {version('pygls')}; lsprotocol {version('lsprotocol')}; jedi {version('jedi')}; "
            f"position encoding {getattr(self._encoding(), 'value', self._encoding())}; diagnostics {'pulled' if self.pull_diagnostics else 'pushed'}; "
            f"sys.path = {sys.path}"
        )
        log.info("%s", message)
        self.window_log_message(types.LogMessageParams(type=types.MessageType.Info, message=message))


server = GradwatchServer()


# -- lifecycle -------------------------------------------------------------------


@server.feature(types.INITIALIZE)
def initialize(ls: GradwatchServer, params: types.InitializeParams) -> None:
    ls.pull_diagnostics = ls._client_can("text_document.diagnostic")
    ls.settings.set_global(params.initialization_options, "initializationOptions")


@server.feature(types.INITIALIZED)
async def initialized(ls: GradwatchServer, params: types.InitializedParams) -> None:
    ls.log_start_up()
    await ls.watch_runtime_files()
    before = ls.settings.fingerprint()
    await ls.pull_configuration()
    # Documents opened meanwhile were analysed with initializationOptions: redo only if that changed.
    if ls.settings.fingerprint() != before:
        ls.settings_changed()


@server.feature(types.SHUTDOWN)
def shutdown(ls: GradwatchServer, params: None) -> None:
    ls.analyser.shutdown()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(ls: GradwatchServer, params: types.DidChangeConfigurationParams) -> None:
    if ls._client_can("workspace.configuration"):
        await ls.pull_configuration()
    elif params.settings is not None:
        ls.settings.set_global(params.settings, "workspace/didChangeConfiguration")
    ls.settings_changed()


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(ls: GradwatchServer, params: types.DidChangeWatchedFilesParams) -> None:
    paths = []
    for change in params.changes:
        path = to_fs_path(change.uri) if change.uri.startswith("file:") else None
        if path and os.path.basename(path) == runtime.RUNTIME_FINDINGS:
            paths.append(path)
    if paths:
        ls.runtime_files_changed(paths)


@server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
async def did_change_folders(ls: GradwatchServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
    await ls.pull_configuration()
    ls.settings_changed()


# -- text documents --------------------------------------------------------------


PYTHON_SUFFIXES = (".py", ".pyi")


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: GradwatchServer, params: types.DidOpenTextDocumentParams) -> None:
    document = params.text_document
    ls.revised(document.uri)
    # A client with a broad document selector may send TOML, Markdown ...: not ours to flag as syntax errors.
    if document.language_id == "python" or document.uri.endswith(PYTHON_SUFFIXES):
        ls.analyser.schedule(document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: GradwatchServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.revised(uri)
    if not ls.analyser.tracks(uri):  # not for documents did_open left alone
        return
    ls.runtime_edited(uri)
    delay = ls.debounce_seconds(uri)
    if delay is not None:
        ls.analyser.schedule(uri, delay)
    else:
        ls.analyser.abandon_stale(uri)  # analysed on save; what runs now is for an older text


@server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
def did_save(ls: GradwatchServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    if uri.endswith("/pyproject.toml"):
        ls.settings_changed()
    elif ls.analyser.tracks(uri):
        ls.analyser.schedule(uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: GradwatchServer, params: types.DidCloseTextDocumentParams) -> None:
    key = params.text_document.uri
    ls.closed(key)
    ls.analyser.forget(key)
    ls.clear(key)


# -- notebooks -------------------------------------------------------------------


@server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
def notebook_did_open(ls: GradwatchServer, params: types.DidOpenNotebookDocumentParams) -> None:
    ls.revised(params.notebook_document.uri)
    ls.analyser.schedule(params.notebook_document.uri)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
def notebook_did_change(ls: GradwatchServer, params: types.DidChangeNotebookDocumentParams) -> None:
    key = params.notebook_document.uri
    ls.revised(key)
    structure = params.change.cells.structure if params.change.cells is not None else None
    for closed in (structure.did_close or []) if structure is not None else []:
        ls._send(closed.uri, [], None)  # a removed cell keeps no diagnostics
    delay = ls.debounce_seconds(key)
    if delay is not None:
        ls.analyser.schedule(key, delay)
    else:
        ls.analyser.abandon_stale(key)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
def notebook_did_save(ls: GradwatchServer, params: types.DidSaveNotebookDocumentParams) -> None:
    ls.analyser.schedule(params.notebook_document.uri)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
def notebook_did_close(ls: GradwatchServer, params: types.DidCloseNotebookDocumentParams) -> None:
    key = params.notebook_document.uri
    ls.closed(key)
    ls.analyser.forget(key)
    ls.clear(key)


# -- requests --------------------------------------------------------------------


@server.feature(
    types.TEXT_DOCUMENT_DIAGNOSTIC,
    types.DiagnosticOptions(identifier="gradwatch", inter_file_dependencies=False, workspace_diagnostics=False),
)
async def pull_diagnostics(ls: GradwatchServer, params: types.DocumentDiagnosticParams):
    uri = params.text_document.uri
    analysis = await ls.analyser.current(ls.key_of(uri))
    items = analysis.diagnostics_for(uri) if analysis is not None else []
    if analysis is not None and analysis.program.key == uri:
        items = items + ls.runtime_diagnostics(analysis.program)
    return types.RelatedFullDocumentDiagnosticReport(items=items)


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=actions.KINDS, resolve_provider=False),
)
async def code_action(ls: GradwatchServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    uri = params.text_document.uri
    analysis = ls.analyser.cached(ls.key_of(uri))
    if analysis is None:
        return None  # unknown document, or edited since the last analysis: nothing that would still fit
    versioned = ls._client_can("workspace.workspace_edit.document_changes")
    found = await actions.code_actions(analysis, uri, params, ls._encoding(), versioned)  # verifies its fixes
    if ls.analyser.cached(ls.key_of(uri)) is not analysis:
        return None  # edited while the fixes were verified: they were made for the old text
    return found or None


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: GradwatchServer, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    analysis = ls.analyser.cached(ls.key_of(uri))
    if analysis is None:
        return None
    program = analysis.program
    found = [] if program.notebook or not program.enabled else ls.runtime_findings(uri, program.text, program.settings)
    return hover_for(analysis, uri, params.position, ls._encoding(), found)


@server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
async def inlay_hint(ls: GradwatchServer, params: types.InlayHintParams) -> list[types.InlayHint] | None:
    """Shapes from the analysis of the document's current text, never an older one's."""
    uri = params.text_document.uri
    key = ls.key_of(uri)
    if not ls.analyser.tracks(key):  # not a document gradwatch analyses
        return None
    analysis = ls.analyser.cached(key)
    # Waits for an analysis that is coming anyway; with run-on-save an edit starts none (the
    # hints come back with the save's analysis, through a refresh).
    if analysis is None and (ls.debounce_seconds(key) is not None or ls.analyser.pending(key)):
        analysis = await ls.analyser.current(key)
        if analysis is not None and ls.analyser.cached(key) is not analysis:
            analysis = None  # edited while we waited
    ls.hints_answered(key, analysis)
    if analysis is None:
        return None
    editor = ls.settings.editor_for(folder_of(key, list(ls.workspace.folders)))
    if not editor.inlay_hint_shapes:
        return None
    return inlay_hints(analysis, uri, params.range, ls._encoding())


# -- entry point -----------------------------------------------------------------


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradwatch serve", description="Run the gradwatch language server.")
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)")
    transport.add_argument("--tcp", type=_host_port, metavar="HOST:PORT", help="listen on a TCP port (for debugging)")
    parser.add_argument(
        "--python",
        metavar="INTERPRETER",
        help="the Python (or virtualenv folder) whose packages imports resolve in; "
        "an `interpreter` in the editor settings is used only if it is this one or the one running the server",
    )
    parser.add_argument(
        "--trust-settings-interpreter",
        action="store_true",
        help="also run an `interpreter` named in the editor settings (after jedi's safe-environment check); "
        "only for editors where a repository's files cannot reach those settings",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="what goes to stderr (default: info)",
    )
    return parser


# The analysis runs in a worker thread, pure Python that holds the GIL; the thread that reads
# the editor's messages gets it only when the worker is made to let go, every 5 ms by default,
# and it takes several turns to read a newer edit and cancel the run that became stale (the
# cross-module pass of the version before, which starts as soon as its first pass is published).
# At 0.5 ms that run stops sooner: benchmarks/bench_lsp.py, 1,000 lines, median edit to
# diagnostics 27 -> 20 ms, p95 55-65 -> 44-49 ms.
GIL_SWITCH_SECONDS = 0.0005


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # Clients add options of their own (vscode-languageclient: --clientProcessId=N); they are not ours to refuse.
    args, unknown = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    level = getattr(logging, args.log_level.upper())
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pygls logs every message at info (whole documents included); only show it when debugging.
    logging.getLogger("pygls").setLevel(level if level <= logging.DEBUG else logging.WARNING)
    if unknown:
        log.info("ignoring command line arguments %s", unknown)
    server.interpreters = InterpreterPolicy(args.python, args.trust_settings_interpreter)
    tune_for_analysis()
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    if args.tcp is not None:
        server.start_tcp(*args.tcp)
    else:
        server.start_io()
    exit_code = 0 if server.protocol._shutdown else 1  # LSP: exit without shutdown is an error
    # An analysis still running in a worker thread (a huge file) would hold up interpreter exit,
    # which joins worker threads; the client is gone, so nothing is lost by not waiting.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(ValueError, OSError):  # the exit request closes stdout
            stream.flush()
    os._exit(exit_code)


if __name__ == "__main__":
    raise SystemExit(main())
