"""A second, real client: headless Neovim (0.7+) with its built-in LSP client.

Neovim runs init.lua, which starts `python -m gradwatch.lsp` the way
docs/editors.md shows, opens a file with a hazard, waits for our diagnostic,
asks for hover and code actions, applies the preferred fix and waits for the
diagnostic to clear. It writes what it saw to a JSON file; the asserts are here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from lsp_helpers import GW203_SOURCE, SERVER_DIR

# Every wait inside Neovim polls for its condition (vim.wait) and gives up after this.
WAIT_MS = 30_000

INIT_LUA = r"""
local result_path = os.getenv("GW_RESULT")
local results = { steps = {} }
local last_published = nil

local function save()
  local file = assert(io.open(result_path, "w"))
  file:write(vim.fn.json_encode(results))
  file:close()
end

local function step(name, value)
  results.steps[#results.steps + 1] = name
  results[name] = value
  save()
end

local function our_diagnostics(bufnr, code)
  local found = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    if d.source == "gradwatch" and (code == nil or d.code == code) then
      found[#found + 1] = d
    end
  end
  return found
end

local function run()
  local wait_ms = tonumber(os.getenv("GW_WAIT_MS"))
  local code = os.getenv("GW_CODE")
  local bufnr = vim.api.nvim_get_current_buf()

  -- The editors.md snippet, in essence (Neovim 0.7 has start_client; 0.8+ also vim.lsp.start).
  local client_id = vim.lsp.start_client({
    name = "gradwatch",
    cmd = { os.getenv("GW_PYTHON"), "-m", "gradwatch.lsp", "--stdio" },
    cmd_env = { PYTHONPATH = os.getenv("GW_SERVER_PATH") },
    root_dir = vim.fn.getcwd(),
    init_options = { debounce = 50 },
    handlers = {
      -- Keep the LSP form of what was published: code actions are asked with it.
      ["textDocument/publishDiagnostics"] = function(err, result, ctx, config)
        last_published = result
        return vim.lsp.diagnostic.on_publish_diagnostics(err, result, ctx, config)
      end,
    },
  })
  step("client_started", client_id ~= nil)
  vim.lsp.buf_attach_client(bufnr, client_id)
  local client = vim.lsp.get_client_by_id(client_id)

  local got = vim.wait(wait_ms, function() return #our_diagnostics(bufnr, code) > 0 end, 50)
  local diagnostics = our_diagnostics(bufnr, code)
  step("diagnostics", vim.tbl_map(function(d)
    return { code = d.code, line = d.lnum, col = d.col, message = d.message, severity = d.severity }
  end, diagnostics))
  if not got then error("no " .. code .. " diagnostic within " .. wait_ms .. " ms") end
  local first = diagnostics[1]
  local position = { line = first.lnum, character = first.col }
  local text_document = { uri = vim.uri_from_bufnr(bufnr) }

  local hover = client.request_sync("textDocument/hover",
    { textDocument = text_document, position = position }, wait_ms, bufnr)
  step("hover", hover and hover.result and hover.result.contents.value or vim.NIL)

  local lsp_diagnostics = vim.tbl_filter(function(d) return d.code == code end, last_published.diagnostics)
  local response = client.request_sync("textDocument/codeAction", {
    textDocument = text_document,
    range = lsp_diagnostics[1].range,
    context = { diagnostics = lsp_diagnostics },
  }, wait_ms, bufnr)
  local actions = (response and response.result) or {}
  step("action_titles", vim.tbl_map(function(a) return a.title end, actions))
  local chosen = nil
  for _, action in ipairs(actions) do
    if action.isPreferred then chosen = action end
  end
  if chosen == nil then error("no preferred code action") end
  vim.lsp.util.apply_workspace_edit(chosen.edit, client.offset_encoding)
  step("applied", chosen.title)
  step("buffer", table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n"))

  local cleared = vim.wait(wait_ms, function() return #our_diagnostics(bufnr, code) == 0 end, 50)
  step("cleared", cleared)
  vim.lsp.stop_client(client_id)
end

vim.api.nvim_create_autocmd("VimEnter", {
  callback = function()
    local ok, err = pcall(run)
    results.ok = ok
    results.error = ok and vim.NIL or tostring(err)
    save()
    vim.cmd("qall!")
  end,
})
"""


def test_neovim_shows_diagnostic_hover_and_applies_the_fix(tmp_path: Path):
    nvim = shutil.which("nvim")
    assert nvim is not None, "Neovim (nvim) is not installed: run scripts/test.sh, or `apt-get install -y neovim`"
    home = tmp_path / "home"
    for part in ("config", "data", "state", "cache"):
        (home / part).mkdir(parents=True)
    (tmp_path / "init.lua").write_text(INIT_LUA)
    example = tmp_path / "example.py"
    example.write_text(GW203_SOURCE)
    result_path = tmp_path / "result.json"
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "GW_RESULT": str(result_path),
        "GW_PYTHON": sys.executable,
        "GW_SERVER_PATH": str(SERVER_DIR),
        "GW_CODE": "GW203",
        "GW_WAIT_MS": str(WAIT_MS),
    }
    completed = subprocess.run(
        [nvim, "--headless", "-n", "-i", "NONE", "-u", str(tmp_path / "init.lua"), str(example)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=4 * WAIT_MS / 1000 + 30,
    )
    assert result_path.exists(), f"Neovim wrote no results (exit {completed.returncode}): {completed.stderr[-2000:]}"
    results = json.loads(result_path.read_text())
    assert results["ok"], f"{results.get('error')} (steps done: {results.get('steps')})"
    (diagnostic,) = results["diagnostics"]
    assert diagnostic["code"] == "GW203" and diagnostic["line"] == 3
    assert "GW203" in results["hover"]
    assert "Ignore GW203 on this line" in results["action_titles"]
    assert "y = y + x" in results["buffer"]
    assert results["cleared"] is True
