// Checks the extension manifest against what the client code and the server expect, so a renamed command or
// setting cannot silently drift apart from its registration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const clientSource = ['extension.ts', 'server.ts', 'interpreter.ts', 'fixAll.ts', 'status.ts', 'runFile.ts']
  .map((file) => readFileSync(path.join(root, 'client', 'src', file), 'utf8'))
  .join('\n');
const pyproject = readFileSync(path.join(root, 'pyproject.toml'), 'utf8');

test('identity matches the Python package', () => {
  assert.equal(manifest.name, 'gradwatch');
  assert.equal(manifest.publisher, 'gradwatch');
  assert.equal(manifest.license, 'MIT');
  const pythonVersion = /^version\s*=\s*"([^"]+)"/m.exec(pyproject)?.[1];
  assert.equal(manifest.version, pythonVersion, 'package.json and pyproject.toml versions differ');
  assert.equal(manifest.main, './dist/extension.js');
});

test('activates on Python files and notebooks, and does not require the Python extension', () => {
  assert.deepEqual(new Set(manifest.activationEvents), new Set(['onLanguage:python', 'onNotebook:jupyter-notebook', 'onNotebook:interactive']));
  assert.ok(!(manifest.extensionDependencies ?? []).includes('ms-python.python'));
});

test('every contributed command is registered by the client, and vice versa', () => {
  const contributed = manifest.contributes.commands.map((command) => command.command).sort();
  assert.deepEqual(contributed, ['gradwatch.fixAll', 'gradwatch.restart', 'gradwatch.runFileWithSentinel', 'gradwatch.showLogs']);
  const registered = [...clientSource.matchAll(/registerCommand\('([^']+)'/g)].map((match) => match[1]).sort();
  assert.deepEqual(registered, contributed);
  const titles = Object.fromEntries(manifest.contributes.commands.map((c) => [c.command, `${c.category}: ${c.title}`]));
  assert.equal(titles['gradwatch.restart'], 'gradwatch: Restart Server');
  assert.equal(titles['gradwatch.showLogs'], 'gradwatch: Show Logs');
  assert.equal(titles['gradwatch.fixAll'], 'gradwatch: Fix All Autograd Hazards');
  assert.equal(titles['gradwatch.runFileWithSentinel'], 'gradwatch: Run File with Autograd Sentinel');
});

test('running a file with the sentinel is for trusted workspaces only', () => {
  const run = manifest.contributes.commands.find((c) => c.command === 'gradwatch.runFileWithSentinel');
  assert.equal(run.enablement, 'isWorkspaceTrusted');
  // Checked in code too: a command can be executed programmatically whatever its enablement.
  assert.match(clientSource, /if \(!vscode\.workspace\.isTrusted\)/);
});

test('settings: each has a description, a scope and a sensible default', () => {
  const properties = manifest.contributes.configuration.properties;
  for (const name of [
    'gradwatch.enable',
    'gradwatch.interpreter',
    'gradwatch.select',
    'gradwatch.ignore',
    'gradwatch.severity',
    'gradwatch.run',
    'gradwatch.debounce',
    'gradwatch.inlayHints.shapes',
    'gradwatch.logLevel',
    'gradwatch.trace.server',
  ]) {
    const setting = properties[name];
    assert.ok(setting, `${name} missing`);
    assert.ok(setting.description || setting.markdownDescription, `${name} has no description`);
    assert.ok(['resource', 'window', 'machine-overridable', 'application'].includes(setting.scope), `${name} scope`);
    assert.ok('default' in setting, `${name} has no default`);
  }
  assert.deepEqual(properties['gradwatch.severity'].additionalProperties.enum, ['error', 'warning', 'information', 'hint', 'off']);
  assert.deepEqual(properties['gradwatch.run'].enum, ['onType', 'onSave']);
  // The server's --log-level choices.
  assert.deepEqual(properties['gradwatch.logLevel'].enum.slice().sort(), ['debug', 'error', 'info', 'warning']);
});

test('workspace trust: limited support, interpreter restricted', () => {
  const trust = manifest.capabilities.untrustedWorkspaces;
  assert.equal(trust.supported, 'limited');
  assert.deepEqual(trust.restrictedConfigurations, ['gradwatch.interpreter']);
  // In Restricted Mode only the user-level value may be read.
  assert.match(clientSource, /inspect<string>\('interpreter'\)/);
  assert.match(clientSource, /globalValue/);
});

test('engine range is one code-server 4.139 (VS Code 1.139) satisfies, and @types/vscode does not exceed it', () => {
  const minimum = /\^1\.(\d+)\.\d+/.exec(manifest.engines.vscode)?.[1];
  assert.ok(minimum && Number(minimum) <= 139, manifest.engines.vscode);
  const typesMinor = /1\.(\d+)/.exec(manifest.devDependencies['@types/vscode'])?.[1];
  assert.ok(Number(typesMinor) <= Number(minimum), 'vsce refuses @types/vscode newer than engines.vscode');
});
