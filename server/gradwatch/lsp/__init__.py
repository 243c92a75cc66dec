"""The language server: pygls wiring from LSP features to the editor-free engine.

`gradwatch serve` and `python -m gradwatch.lsp` both start `server.main`.
"""
