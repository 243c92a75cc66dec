// End-to-end test of the packaged extension in real VS Code (code-server), driven through headless Chromium.
//
//   node tests/extension/e2e.mjs --code-server DIR --vsix FILE --python PYTHON [--update-docs-screenshot] [--keep]
//
// DIR is what tests/extension/install-code-server.sh prints. Everything code-server, the extension host, the
// server and Chromium write goes under one scratch folder (HOME, TMPDIR and XDG_* point there). Screenshots of
// each step go to .artifacts/e2e/. Every wait polls a condition with a deadline; there are no fixed sleeps.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: options } = parseArgs({
  options: {
    'code-server': { type: 'string' },
    vsix: { type: 'string', default: path.join(root, 'gradwatch-0.1.0.vsix') },
    python: { type: 'string', default: path.join(root, '.venv', 'bin', 'python') },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    'update-docs-screenshot': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    // For debugging: run only the steps whose name matches, and log the LSP traffic to the gradwatch output.
    only: { type: 'string' },
    trace: { type: 'boolean', default: false },
  },
});
for (const key of ['code-server', 'vsix', 'python']) {
  if (options[key]) {
    options[key] = path.resolve(options[key]);
  }
}
if (!options['code-server']) {
  console.error('usage: e2e.mjs --code-server DIR [--vsix FILE] [--python PYTHON] [--update-docs-screenshot]');
  process.exit(2);
}
for (const [what, file] of [
  ['vsix', options.vsix],
  ['python', options.python],
  ['chromium', options.chromium],
]) {
  if (!fs.existsSync(file)) {
    console.error(`e2e: ${what} not found: ${file}`);
    process.exit(2);
  }
}

const artifacts = path.join(root, '.artifacts', 'e2e');
fs.rmSync(artifacts, { recursive: true, force: true });
fs.mkdirSync(artifacts, { recursive: true });
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gradwatch-e2e-'));
const dirs = Object.fromEntries(
  [
    'home',
    'tmp',
    'config',
    'data',
    'cache',
    'state',
    'runtime',
    'extensions',
    'workspace',
    'restricted-workspace',
  ].map(
    (name) => [name, path.join(scratch, name)],
  ),
);
for (const dir of Object.values(dirs)) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}
const isolatedEnv = {
  ...process.env,
  HOME: dirs.home,
  TMPDIR: dirs.tmp,
  XDG_CONFIG_HOME: dirs.config,
  XDG_DATA_HOME: dirs.data,
  XDG_CACHE_HOME: dirs.cache,
  XDG_STATE_HOME: dirs.state,
  XDG_RUNTIME_DIR: dirs.runtime,
  PATH: `${path.join(options['code-server'], 'bin')}${path.delimiter}${process.env.PATH}`,
};
// Our own environment must not leak into the server the extension starts.
delete isolatedEnv.PYTHONPATH;

const started = Date.now();
const log = (message) => console.log(`[e2e +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);

// ---------------------------------------------------------------------------------------------- workspace

const RAN_MARKER = path.join(scratch, 'workspace-interpreter-ran');

// Run under the autograd sentinel from the command palette; `w.add_(1)` (line 4) clobbers what sigmoid saved.
const RUNTIME_FILE = 'sentinel_run.py';
const RUNTIME_SOURCE =
  'import torch\nx = torch.randn(3, requires_grad=True)\nw = x.sigmoid()\nw.add_(1)\nw.sum().backward()\n';

// Shapes the engine proves from literal sizes: inlay hints after each assigned name, and in the hover.
const SHAPES_FILE = 'shapes.py';
const SHAPES_SOURCE = [
  'import torch',
  '',
  'weight = torch.randn(784, 10, requires_grad=True)',
  'bias = torch.zeros(10, requires_grad=True)',
  'images = torch.randn(32, 784)',
  'logits = images @ weight + bias',
  'probs = logits.softmax(dim=-1)',
  'loss = -probs.log().mean()',
  'loss.backward()',
  '',
].join('\n');

const NOTEBOOK_CELLS = [
  'import torch\nx = torch.randn(3, requires_grad=True)\ny = x.sigmoid()',
  'y.add_(1)\ny.sum().backward()',
];

function notebookJson(cells) {
  return JSON.stringify(
    {
      cells: cells.map((source) => ({
        cell_type: 'code',
        execution_count: null,
        metadata: {},
        outputs: [],
        source: source.split(/(?<=\n)/),
      })),
      metadata: {
        kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' },
        language_info: { name: 'python' },
      },
      nbformat: 4,
      nbformat_minor: 5,
    },
    null,
    1,
  );
}

function makeWorkspace() {
  fs.cpSync(path.join(root, 'examples'), dirs.workspace, { recursive: true });
  const files = {
    'gw203_inplace_hint.py':
      'import torch\nx = torch.randn(3, requires_grad=True)\ny = x * 2\ny.add_(x)\ny.sum().backward()\n',
    'gw201_inplace_error.py':
      'import torch\nx = torch.randn(3, requires_grad=True)\nz = x.sigmoid()\nz.add_(1)\nz.sum().backward()\n',
    'fix_all.py':
      'import torch\nx = torch.randn(3, requires_grad=True)\na = x * 2\na.add_(x)\nb = x * 3\nb.mul_(x)\n(a + b).sum().backward()\n',
    'cells.ipynb': notebookJson(NOTEBOOK_CELLS),
    [RUNTIME_FILE]: RUNTIME_SOURCE,
    [SHAPES_FILE]: SHAPES_SOURCE,
  };
  for (const [name, text] of Object.entries(files)) {
    fs.writeFileSync(path.join(dirs.workspace, name), text);
  }
}

function writeUserSettings(userData) {
  const userSettings = {
    'workbench.startupEditor': 'none',
    'chat.disableAIFeatures': true,
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'extensions.ignoreRecommendations': true,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'editor.hover.delay': 200,
    'editor.minimap.enabled': false,
    // Roomy lines: at the default height the squiggle covers the underscore of `add_` in screenshots.
    'editor.fontFamily': "'DejaVu Sans Mono', 'Liberation Mono', monospace",
    'editor.fontSize': 14,
    'editor.lineHeight': 24,
    // The secondary side bar (chat) would halve the editor and clip hovers.
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'workbench.secondarySideBar.showLabels': false,
    'files.autoSave': 'off',
    // The DOM renderer: the terminal's text can be read from the page (the canvas renderer draws pixels).
    'terminal.integrated.gpuAcceleration': 'off',
    'window.restoreWindows': 'none',
    'extensions.autoCheckUpdates': false,
    'gradwatch.interpreter': options.python,
    ...(options.trace ? { 'gradwatch.trace.server': 'verbose', 'gradwatch.logLevel': 'debug' } : {}),
  };
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify(userSettings, null, 2));
}

/**
 * A workspace that tries to make gradwatch run its own executable through a workspace setting. Opened in
 * Restricted Mode, the extension must ignore it: the fake interpreter leaves a marker file if it ever runs.
 */
function makeRestrictedWorkspace() {
  const folder = dirs['restricted-workspace'];
  const fake = path.join(folder, 'tools', 'python');
  fs.mkdirSync(path.dirname(fake), { recursive: true });
  fs.writeFileSync(fake, `#!/bin/sh\ntouch "${RAN_MARKER}"\nexec "${options.python}" "$@"\n`, { mode: 0o755 });
  fs.mkdirSync(path.join(folder, '.vscode'));
  fs.writeFileSync(
    path.join(folder, '.vscode', 'settings.json'),
    JSON.stringify({ 'gradwatch.interpreter': '${workspaceFolder}/tools/python' }, null, 2),
  );
  fs.writeFileSync(
    path.join(folder, 'gw201_inplace_error.py'),
    'import torch\nx = torch.randn(3, requires_grad=True)\nz = x.sigmoid()\nz.add_(1)\nz.sum().backward()\n',
  );
}

// ---------------------------------------------------------------------------------------------- code-server

const codeServerEntry = fs.realpathSync(path.join(options['code-server'], 'node_modules', '.bin', 'code-server'));
const node24 = path.join(options['code-server'], 'bin', 'node');
const configFile = path.join(scratch, 'config.yaml');
fs.writeFileSync(configFile, 'auth: none\ncert: false\n');
const commonArgs = (userData) => ['--config', configFile, '--user-data-dir', userData, '--extensions-dir', dirs.extensions];

function installExtension(userData) {
  const result = spawnSync(node24, [codeServerEntry, ...commonArgs(userData), '--install-extension', options.vsix, '--force'], {
    env: isolatedEnv,
    cwd: scratch,
    encoding: 'utf8',
    timeout: 120_000,
  });
  const installed = fs.readdirSync(dirs.extensions).filter((name) => name.startsWith('gradwatch.gradwatch-'));
  if (result.status !== 0 || installed.length !== 1) {
    throw new Error(`--install-extension failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
  log(`installed ${installed[0]}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function until(description, check, timeoutMs = 30_000, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) {
        return value;
      }
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${description}${lastError ? `: ${lastError}` : ''}`);
}

async function startCodeServer(port, session) {
  const logFile = fs.openSync(path.join(scratch, `code-server-${session.name}.log`), 'w');
  const child = spawn(
    node24,
    [
      codeServerEntry,
      ...commonArgs(session.userData),
      '--auth',
      'none',
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      ...(session.trustPrompt ? [] : ['--disable-workspace-trust']),
      '--disable-getting-started-override',
      '--ignore-last-opened',
      // Nobody reconnects after the test; extension hosts should not linger waiting for it.
      '--reconnection-grace-time',
      '5',
      session.workspace,
    ],
    { env: isolatedEnv, cwd: scratch, stdio: ['ignore', logFile, logFile], detached: true },
  );
  let exited = null;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  await until(
    'code-server to answer /healthz',
    async () => {
      if (exited) {
        throw new Error(`code-server exited early: ${JSON.stringify(exited)}`);
      }
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      return response.ok;
    },
    60_000,
  );
  log(`code-server listening on 127.0.0.1:${port}`);
  return child;
}

/**
 * Stops code-server and everything it started (extension host, language server): they share its process
 * group. The extension host outlives a plain SIGTERM while it waits for the browser to reconnect, so the
 * group gets SIGKILL if it is not gone after a few seconds.
 */
async function stopProcessGroup(child) {
  if (!child) {
    return;
  }
  const groupAlive = () => {
    try {
      process.kill(-child.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!groupAlive()) {
    return;
  }
  process.kill(-child.pid, 'SIGTERM');
  try {
    await until('code-server and its children to exit', () => !groupAlive(), 5000, 100);
  } catch {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone in the meantime
    }
  }
}

// ---------------------------------------------------------------------------------------------- page helpers

let page;
let shot = 0;
async function screenshot(name) {
  shot += 1;
  const file = path.join(artifacts, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

const editorPart = () => page.locator('.part.editor');
const activeEditor = () => editorPart().locator('.editor-group-container.active .monaco-editor').first();

async function editorText() {
  const text = await activeEditor().locator('.view-lines').innerText();
  return text.replace(/\u00a0/g, ' ');
}

/** The editor's code without the shape inlay hints (`a: (3,) = ...` reads `a = ...`), which render as text. */
async function codeText() {
  return (await editorText()).replace(/:\s\([^()]*\)(?=\s=)/g, '');
}

async function openFromExplorer(name) {
  const row = page
    .locator('.explorer-folders-view .monaco-list-row')
    .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${name.replace('.', '\\.')}$`) }) });
  await row.first().waitFor({ timeout: 30_000 });
  await row.first().click();
  await editorPart().locator(`.tab.active[data-resource-name="${name}"]`).waitFor({ timeout: 20_000 });
}

async function openTextFile(name, expectedText) {
  await openFromExplorer(name);
  // The code as written: shape hints may already be shown when the text first is.
  await until(`${name} content`, async () => (await codeText()).includes(expectedText), 20_000);
}

/** Moves the mouse over the first squiggle of `kind` inside `scope` and waits for a hover containing `text`. */
async function hoverSquiggle(scope, kind, text) {
  return hoverOver(scope.locator(`.squiggly-${kind}`).first(), text);
}

/** Moves the mouse over `target` (a locator) and waits for a hover containing `text`. */
async function hoverOver(target, text) {
  const hover = page.locator('.monaco-hover').filter({ hasText: text });
  return until(
    `a hover containing "${text}"`,
    async () => {
      const box = await target.boundingBox();
      if (!box) {
        return false;
      }
      // Leave and re-enter so each attempt triggers a fresh hover.
      await page.mouse.move(5, 5);
      await page.mouse.move(box.x + Math.min(box.width / 2, 30), box.y + box.height / 2, { steps: 4 });
      await hover.first().waitFor({ state: 'visible', timeout: 4000 });
      return hover.first();
    },
    45_000,
    100,
  );
}

/** Places the cursor on the line containing `lineText`, opens the quick-fix menu and picks `title`. */
async function applyQuickFix(lineText, title) {
  const line = activeEditor().locator('.view-line').filter({ hasText: lineText }).first();
  const menuItem = page.locator('.action-widget .monaco-list-row').filter({ hasText: title });
  await until(
    `the quick fix "${title}"`,
    async () => {
      await line.click({ position: { x: 4, y: 5 } });
      // Ctrl+. can be swallowed while the lightbulb is still computing: retry until the menu shows our fix.
      await page.keyboard.press('Control+.');
      try {
        await menuItem.first().waitFor({ state: 'visible', timeout: 3000 });
        return true;
      } catch (error) {
        await page.keyboard.press('Escape');
        throw error;
      }
    },
    45_000,
    100,
  );
  await screenshot('quick-fix-menu');
  await menuItem.first().click();
}

async function runCommand(title) {
  await until(
    `the command "${title}" in the palette`,
    async () => {
      await page.keyboard.press('Control+Shift+P');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 3000 });
      await input.fill(`>${title}`);
      const item = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: title });
      try {
        await item.first().waitFor({ state: 'visible', timeout: 5000 });
      } catch (error) {
        await page.keyboard.press('Escape');
        throw error;
      }
      await page.keyboard.press('Enter');
      return true;
    },
    30_000,
  );
}

// ---------------------------------------------------------------------------------------------- the steps

const sessions = [
  {
    name: 'trusted',
    workspace: dirs.workspace,
    userData: path.join(scratch, 'user-data'),
    trustPrompt: false,
    steps: [],
  },
  {
    name: 'restricted',
    workspace: dirs['restricted-workspace'],
    userData: path.join(scratch, 'user-data-restricted'),
    trustPrompt: true,
    steps: [],
  },
];
let stepsOf = sessions[0].steps;
const step = (name, run) => stepsOf.push({ name, run });

step('workbench loads with the workspace', async () => {
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 60_000 });
});

step('GW201 error is squiggled and listed in Problems with its code', async () => {
  await openTextFile('gw201_inplace_error.py', 'z.add_(1)');
  // The first diagnostics wait for the server to start (interpreter check, imports): allow for a cold machine.
  await activeEditor().locator('.squiggly-error').first().waitFor({ timeout: 90_000 });
  await page.keyboard.press('Control+Shift+M');
  const row = page.locator('.markers-panel .monaco-list-row').filter({ hasText: /GW201/ });
  await row.first().waitFor({ timeout: 20_000 });
  const text = await row.first().innerText();
  if (!/gradwatch/.test(text) || !/inplace operation|in place/.test(text)) {
    throw new Error(`unexpected Problems row: ${text}`);
  }
  log(`Problems: ${text.replace(/\s+/g, ' ').trim()}`);
});

step('examples/train.py findings appear in Problems', async () => {
  await openTextFile('train.py', 'import torch');
  const rows = page.locator('.markers-panel .monaco-list-row').filter({ hasText: /GW\d{3}/ });
  const trainRows = await until(
    'gradwatch findings for train.py in Problems',
    async () => {
      const texts = await rows.allInnerTexts();
      const codes = new Set(texts.flatMap((t) => t.match(/GW\d{3}/g) ?? []));
      return codes.size >= 2 ? [...codes] : false;
    },
    60_000,
  );
  log(`Problems now lists codes: ${trainRows.join(', ')}`);
});

step('hover explains the GW201 finding', async () => {
  await openTextFile('gw201_inplace_error.py', 'z.add_(1)');
  const hover = await hoverSquiggle(activeEditor(), 'error', 'GW201');
  const text = await hover.innerText();
  for (const expected of ['sigmoid', 'Fix:', 'z = z + 1']) {
    if (!text.includes(expected)) {
      throw new Error(`hover lacks "${expected}": ${text}`);
    }
  }
  await screenshot('hover');
  // The editor area alone (the hover included) reads better in the docs than the whole window.
  const editorShot = path.join(artifacts, 'hover-editor.png');
  await editorPart().screenshot({ path: editorShot });
  if (options['update-docs-screenshot']) {
    fs.copyFileSync(editorShot, path.join(root, 'docs', 'images', 'hover.png'));
    log('updated docs/images/hover.png');
  }
  await page.mouse.move(5, 5);
});

step('inlay hints and hover show the proved tensor shapes', async () => {
  await openTextFile(SHAPES_FILE, 'logits = images @ weight + bias');
  const lineOf = (text) => activeEditor().locator('.view-line').filter({ hasText: text }).first();
  const lineText = async (text) => (await lineOf(text).innerText()).replace(/\u00a0/g, ' ');
  // Hints come once the server is up and has analysed the file: allow for a cold start.
  await until('the inlay hint after logits', async () => (await lineText('images @ weight')).startsWith('logits: (32, 10) = '), 90_000);
  const expected = {
    'torch.randn(32, 784)': 'images: (32, 784) = ',
    'torch.randn(784, 10': 'weight: (784, 10) = ',
    'torch.zeros(10': 'bias: (10,) = ',
    'logits.softmax': 'probs: (32, 10) = ',
    'probs.log()': 'loss: () = ',
  };
  await until('a hint after every assigned tensor', async () => {
    for (const [line, start] of Object.entries(expected)) {
      if (!(await lineText(line)).startsWith(start)) {
        return false;
      }
    }
    return true;
  });
  // Inlays, not text: the buffer on disk and in the model is the file as written.
  // (VS Code renders the spaces as no-break spaces, which `\s` matches.)
  const hint = lineOf('images @ weight').locator('span').filter({ hasText: /^:\s\(32,\s10\)$/ }).first();
  await hint.waitFor({ timeout: 10_000 });
  const className = await hint.getAttribute('class');
  if (!/\bdyn-rule-/.test(className ?? '')) {
    throw new Error(`the hint is not rendered as an inlay (class "${className}")`);
  }
  if ((await lineText('loss.backward()')).includes(':')) {
    throw new Error('a use of a name got a hint; only assignments should');
  }
  // Hover on the name shows the same shape, with the autograd state. (The name on line 3: its hover opens
  // above it, over the import, and leaves the hints in sight for the screenshot.)
  const name = lineOf('torch.randn(784, 10').locator('span').filter({ hasText: /^weight$/ }).first();
  const hover = await hoverOver(name, 'Tensor of shape (784, 10)');
  const text = await hover.innerText();
  if (!text.includes('requires grad, a leaf')) {
    throw new Error(`the hover lacks the autograd state: ${text}`);
  }
  await screenshot('inlay-hints');
  // The top of the editor area: the ten lines of the file and the hover, without the empty space below.
  const editorShot = path.join(artifacts, 'inlay-hints-editor.png');
  const box = await editorPart().boundingBox();
  await page.screenshot({ path: editorShot, clip: { x: box.x, y: box.y, width: box.width, height: Math.min(box.height, 320) } });
  if (options['update-docs-screenshot']) {
    fs.copyFileSync(editorShot, path.join(root, 'docs', 'images', 'inlay-hints.png'));
    log('updated docs/images/inlay-hints.png');
  }
  await page.mouse.move(5, 5);
});

step('the injected grammar scopes `add_` in real VS Code', async () => {
  await openTextFile('gw201_inplace_error.py', 'z.add_(1)');
  const token = activeEditor().locator('.view-line span span').filter({ hasText: /^add_$/ }).first();
  await token.click();
  await runCommand('Developer: Inspect Editor Tokens and Scopes');
  const widget = page.locator('.token-inspect-widget');
  await widget.filter({ hasText: 'entity.name.function.inplace.gradwatch' }).first().waitFor({ timeout: 20_000 });
  await screenshot('token-scopes');
  await page.keyboard.press('Escape');
  await until('the inspector to close', async () => !(await widget.first().isVisible()));
});

step('quick fix rewrites y.add_(x) as y = y + x and the finding clears', async () => {
  await openTextFile('gw203_inplace_hint.py', 'y.add_(x)');
  await activeEditor().locator('.squiggly-hint').first().waitFor({ timeout: 30_000 });
  await applyQuickFix('y.add_(x)', 'y = y + x');
  await until('the buffer to contain the fix', async () => {
    const text = await codeText();
    return text.includes('y = y + x') && !text.includes('y.add_(x)');
  });
  await until('the GW203 squiggle to clear', async () => (await activeEditor().locator('.squiggly-hint').count()) === 0);
});

step('gradwatch: Fix All Autograd Hazards applies every safe fix', async () => {
  await openTextFile('fix_all.py', 'b.mul_(x)');
  await until('two GW203 hints', async () => (await activeEditor().locator('.squiggly-hint').count()) >= 2, 30_000);
  await activeEditor().locator('.view-line').first().click();
  await runCommand('gradwatch: Fix All Autograd Hazards');
  await until('both fixes in the buffer', async () => {
    const text = await codeText();
    return text.includes('a = a + x') && text.includes('b = b * x') && !/\.(add|mul)_\(/.test(text);
  });
  await until('the hints to clear', async () => (await activeEditor().locator('.squiggly-hint').count()) === 0);
});

step('notebook: the hazard built in cell 1 is reported in cell 2', async () => {
  // Until the built-in ipynb extension has registered its serializer, a click opens the JSON text instead:
  // close that and ask again.
  await until(
    'cells.ipynb to open as a notebook',
    async () => {
      await openFromExplorer('cells.ipynb');
      try {
        await editorPart().locator('.notebook-editor').first().waitFor({ state: 'visible', timeout: 3000 });
        return true;
      } catch (error) {
        await page.keyboard.press('Control+W');
        throw error;
      }
    },
    60_000,
  );
  // The notebook's cell list lives in an overlay above the editor part, not inside it.
  const cells = page.locator('.notebookOverlay .monaco-list-row.code-cell-row');
  await until('two code cells', async () => (await cells.count()) === 2, 30_000);
  await until('an error squiggle in cell 2', async () => (await cells.nth(1).locator('.squiggly-error').count()) > 0, 60_000);
  if ((await cells.nth(0).locator('.squiggly-error').count()) !== 0) {
    throw new Error('cell 1 has an error squiggle; the finding belongs to cell 2');
  }
  const hover = await hoverSquiggle(cells.nth(1), 'error', 'GW201');
  const text = await hover.innerText();
  if (!text.includes('sigmoid')) {
    throw new Error(`notebook hover does not cite sigmoid: ${text}`);
  }
});

step('gradwatch: Restart Server restarts it, and findings come back', async (session) => {
  await openTextFile('gw201_inplace_error.py', 'z.add_(1)');
  const startsBefore = (readGradwatchLogs(session.userData).match(/starting the server/g) ?? []).length;
  await activeEditor().locator('.view-line').first().click();
  await runCommand('gradwatch: Restart Server');
  await until('the restart in the gradwatch log', () => {
    const text = readGradwatchLogs(session.userData);
    const starts = (text.match(/starting the server/g) ?? []).length;
    return starts > startsBefore && /starting the server \(restart command\)[\s\S]*server running/.test(text);
  });
  await activeEditor().locator('.squiggly-error').first().waitFor({ timeout: 30_000 });
});

step('gradwatch: Show Logs shows the server log', async () => {
  await runCommand('gradwatch: Show Logs');
  const output = page.locator('.part.panel .monaco-editor .view-lines');
  await until('the gradwatch output channel', async () => {
    const text = (await output.first().innerText()).replace(/\u00a0/g, ' ');
    // The view follows the end of the log, so look for the server's own start-up line.
    return text.includes('gradwatch 0.1.0 language server') && text.includes('diagnostics pushed');
  });
});

step('gradwatch: Run File with Autograd Sentinel shows the runtime finding until the line is edited', async () => {
  await openTextFile(RUNTIME_FILE, 'w.add_(1)');
  await activeEditor().locator('.squiggly-error').first().waitFor({ timeout: 60_000 }); // the server is up
  const runtimeJson = path.join(dirs.workspace, '.gradwatch_cache', 'runtime.json');
  fs.rmSync(runtimeJson, { force: true });
  await runCommand('gradwatch: Run File with Autograd Sentinel');
  await until('gradwatch run to write runtime.json', () => fs.existsSync(runtimeJson), 120_000);
  log(`runtime.json: ${fs.readFileSync(runtimeJson, 'utf8').replace(/\s+/g, ' ').slice(0, 200)}`);
  const terminal = page.locator('.part.panel .terminal-wrapper .xterm-rows, .part.panel .xterm-accessibility-tree');
  const terminalText = await until('the run\'s output in the terminal', async () => {
    const texts = (await terminal.allInnerTexts()).join('\n').replace(/\u00a0/g, ' ');
    return texts.includes(`${RUNTIME_FILE}:4:1: GW201`) ? texts : false;
  });
  log(`terminal: ${terminalText.replace(/\s+/g, ' ').slice(0, 300)}`);
  await screenshot('sentinel-terminal');

  // The Problems panel names each diagnostic's source: the runtime one is told apart from the static GW201.
  const problems = page.locator('.markers-panel');
  const runtimeRows = problems.locator('.monaco-list-row').filter({ hasText: 'gradwatch (runtime)' });
  const showProblems = async () => {
    if (!(await problems.first().isVisible())) {
      await page.keyboard.press('Control+Shift+M');
    }
  };
  const row = await until(
    'the runtime finding in Problems',
    async () => {
      await showProblems();
      const texts = await runtimeRows.allInnerTexts();
      return texts.find((text) => text.includes('GW201')) ?? false;
    },
    60_000,
  );
  log(`Problems: ${row.replace(/\s+/g, ' ').trim()}`);
  if (!/Ln 4\b/.test(row) || !row.includes('sigmoid')) {
    throw new Error(`the runtime finding is not on the culprit line (4): ${row}`);
  }
  const hover = await hoverSquiggle(activeEditor(), 'error', 'gradwatch run');
  const text = await hover.innerText();
  if (!text.includes('Seen when the program ran') || !text.includes('saved for backward') || !text.includes('Fix:')) {
    throw new Error(`the runtime hover lacks the rule's explanation: ${text}`);
  }
  await screenshot('runtime-finding');
  await page.mouse.move(5, 5);

  // Edit the culprit line: the runtime finding goes (the static one stays).
  const line = activeEditor().locator('.view-line').filter({ hasText: 'w.add_(1)' }).first();
  await line.click();
  await page.keyboard.press('End');
  await page.keyboard.type('  # edited');
  await until('the edit in the buffer', async () => (await editorText()).includes('w.add_(1)  # edited'));
  await until(
    'the runtime finding to vanish from Problems',
    async () => {
      await showProblems();
      return (await runtimeRows.count()) === 0;
    },
    30_000,
  );
  await activeEditor().locator('.squiggly-error').first().waitFor({ timeout: 30_000 });
  // Leave the file as it was on disk, unsaved changes discarded, for the steps after this one.
  await runCommand('File: Revert File');
});

/** The gradwatch.interpreter input of the Settings editor (which opens as a modal over the workbench). */
const interpreterInput = () =>
  page.locator('.settings-editor .setting-item-contents').filter({ hasText: 'Interpreter' }).locator('input').first();

async function setInterpreterInSettingsEditor(session, value) {
  await interpreterInput().waitFor({ timeout: 20_000 });
  await interpreterInput().fill(value);
  await interpreterInput().press('Enter');
  // The editor saves after a short debounce; closing it earlier would drop the change.
  const settingsFile = path.join(session.userData, 'User', 'settings.json');
  await until(`settings.json to hold ${value}`, () => fs.readFileSync(settingsFile, 'utf8').includes(`"${value}"`));
}

async function closeSettingsEditor() {
  await until('the Settings editor to close', async () => {
    if (!(await page.locator('.settings-editor').first().isVisible())) {
      return true;
    }
    await page.keyboard.press('Escape');
    return false;
  });
}

const serverStarts = (session) => (readGradwatchLogs(session.userData).match(/server running/g) ?? []).length;

step('a broken interpreter: error with "Select Interpreter"; fixing the setting restarts the server', async (session) => {
  await openTextFile('gw201_inplace_error.py', 'z.add_(1)'); // activates the extension when run alone
  // Settings are changed through the Settings editor, as a user would: VS Code rewrites settings.json from its
  // own model at times, so writing the file behind its back would race with it.
  await runCommand('Preferences: Open Settings (UI)');
  await page.locator('.settings-editor').first().waitFor({ timeout: 20_000 });
  await page.keyboard.type('gradwatch.interpreter');
  const missing = path.join(scratch, 'no-such-python');
  await setInterpreterInSettingsEditor(session, missing);
  await closeSettingsEditor();

  const toast = page.locator('.notification-toast').filter({ hasText: `cannot run ${missing}` });
  await toast.first().waitFor({ timeout: 30_000 });
  await screenshot('interpreter-error');
  // Without the Python extension the button opens the setting.
  const startsBefore = serverStarts(session);
  await toast.first().locator('.monaco-button').filter({ hasText: 'Select Interpreter' }).first().click();
  await screenshot('interpreter-setting');
  await setInterpreterInSettingsEditor(session, options.python);
  await until('the server to restart with the good interpreter', () => serverStarts(session) > startsBefore);
  await closeSettingsEditor();
  await openTextFile('gw201_inplace_error.py', 'z.add_(1)');
  await activeEditor().locator('.squiggly-error').first().waitFor({ timeout: 30_000 });
});

stepsOf = sessions[1].steps;

step('Restricted Mode: the workbench opens the workspace untrusted', async () => {
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  // code-server opens an unknown folder in Restricted Mode directly; desktop VS Code asks first.
  const dontTrust = page.locator('.monaco-dialog-box .monaco-button').filter({ hasText: /don.t trust/i });
  const restricted = page.locator('.statusbar-item').filter({ hasText: 'Restricted Mode' });
  await until(
    'the Restricted Mode indicator',
    async () => {
      if (await dontTrust.first().isVisible()) {
        await dontTrust.first().click();
      }
      return restricted.first().isVisible();
    },
    60_000,
  );
  await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 30_000 });
});

step('Restricted Mode: the workspace interpreter never runs; the user-level one does', async (session) => {
  await openTextFile('gw201_inplace_error.py', 'z.add_(1)');
  await activeEditor().locator('.squiggly-error').first().waitFor({ timeout: 90_000 });
  if (fs.existsSync(RAN_MARKER)) {
    throw new Error('the interpreter named by the untrusted workspace was run');
  }
  const gradwatchLog = await until('the gradwatch log to say why', () => {
    const text = readGradwatchLogs(session.userData);
    // VS Code itself already hides the workspace value of a restricted setting, so the note is the general one.
    return text.includes('Restricted Mode: only a user-level interpreter is run') ? text : false;
  });
  if (!gradwatchLog.includes(`interpreter: ${options.python} (from user setting)`)) {
    throw new Error(`the server did not run the user-level interpreter:\n${gradwatchLog}`);
  }
  // The language status item says so too.
  await page.locator('[id="status.languageStatus"]').first().click();
  await page.locator('.monaco-hover, .context-view').filter({ hasText: 'Restricted Mode' }).first().waitFor({ timeout: 10_000 });
});

step('Restricted Mode: Run File with Autograd Sentinel is not offered', async () => {
  await openTextFile('gw201_inplace_error.py', 'z.add_(1)');
  await activeEditor().locator('.view-line').first().click();
  await page.keyboard.press('Control+Shift+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill('>gradwatch:');
  const rows = page.locator('.quick-input-list .monaco-list-row');
  // The other gradwatch commands are listed, so the list is complete when we look.
  await rows.filter({ hasText: 'Show Logs' }).first().waitFor({ timeout: 10_000 });
  const titles = await rows.allInnerTexts();
  await page.keyboard.press('Escape');
  if (titles.some((title) => title.includes('Run File with Autograd Sentinel'))) {
    throw new Error(`the command is offered in Restricted Mode: ${titles.join(' | ')}`);
  }
});

// ---------------------------------------------------------------------------------------------- main

async function runSession(session) {
  writeUserSettings(session.userData);
  const port = await freePort();
  const codeServer = await startCodeServer(port, session);
  runningCodeServer = codeServer;
  let browser;
  try {
    // A fresh browser profile in the scratch folder for every session.
    browser = await chromium.launchPersistentContext(path.join(scratch, `browser-${session.name}`), {
      executablePath: options.chromium,
      headless: true,
      env: isolatedEnv,
      viewport: { width: 1400, height: 900 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage();
    const consoleLog = fs.createWriteStream(path.join(artifacts, `browser-console-${session.name}.log`));
    page.on('console', (message) => consoleLog.write(`${message.type()}: ${message.text()}\n`));
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(session.workspace)}`);

    for (const { name, run } of session.steps) {
      const stepStart = Date.now();
      try {
        await run(session);
        results.passed += 1;
        await screenshot(name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 50));
        log(`ok   ${name} (${((Date.now() - stepStart) / 1000).toFixed(1)}s)`);
      } catch (error) {
        results.failed += 1;
        log(`FAIL ${name}: ${error instanceof Error ? error.message : error}`);
        await screenshot(`FAILED-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 40)}`).catch(() => {});
        return false; // later steps build on the workbench state of earlier ones
      }
    }
    return true;
  } finally {
    await browser?.close().catch(() => {});
    await stopProcessGroup(codeServer);
  }
}

const results = { passed: 0, failed: 0 };

// Interrupted (Ctrl+C, a CI timeout): take code-server and its children down too.
let runningCodeServer;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    try {
      process.kill(-runningCodeServer?.pid, 'SIGKILL');
    } catch {
      // not running
    }
    process.exit(1);
  });
}

async function main() {
  if (options.only) {
    const wanted = new RegExp(options.only, 'i');
    for (const session of sessions) {
      // The first step of a session opens the workbench; keep it.
      session.steps = session.steps.filter(({ name }, index) => index === 0 || wanted.test(name));
    }
  }
  const total = sessions.reduce((count, session) => count + session.steps.length, 0);
  try {
    makeWorkspace();
    makeRestrictedWorkspace();
    installExtension(sessions[0].userData);
    for (const session of sessions) {
      log(`session: ${session.name}`);
      if (!(await runSession(session))) {
        break;
      }
    }
  } catch (error) {
    results.failed += 1;
    log(`FAIL setup: ${error instanceof Error ? error.stack : error}`);
  }
  if (results.failed) {
    dumpLogs();
    console.log(`e2e: screenshots in ${artifacts}; scratch kept in ${scratch}`);
    const skipped = total - results.passed - results.failed;
    console.log(`${results.passed} passed, ${results.failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
    process.exit(1);
  }
  if (!options.keep) {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  console.log(`e2e: screenshots in ${artifacts}`);
  console.log(`${results.passed} passed, 0 failed`);
}

function readGradwatchLogs(userData) {
  const logs = path.join(userData, 'logs');
  const found = fs.existsSync(logs) ? fs.readdirSync(logs, { recursive: true }).map(String) : [];
  return found
    .filter((name) => /gradwatch\.log$/i.test(name))
    .map((name) => fs.readFileSync(path.join(logs, name), 'utf8'))
    .join('\n');
}

function dumpLogs() {
  const tail = (text, lines) => text.split('\n').slice(-lines).join('\n');
  for (const session of sessions) {
    const logFile = path.join(scratch, `code-server-${session.name}.log`);
    if (fs.existsSync(logFile)) {
      console.log(`--- code-server (${session.name}) log, tail\n${tail(fs.readFileSync(logFile, 'utf8'), 30)}`);
      console.log(`--- gradwatch output (${session.name}), tail\n${tail(readGradwatchLogs(session.userData), 60)}`);
    }
  }
}

await main();
