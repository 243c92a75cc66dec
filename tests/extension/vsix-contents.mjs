// Checks what the built .vsix holds: the runtime files and nothing else (no tests, sources or node_modules).
//   node tests/extension/vsix-contents.mjs gradwatch-0.1.0.vsix
import { execFileSync } from 'node:child_process';

const vsix = process.argv[2];
if (!vsix) {
  console.error('usage: vsix-contents.mjs FILE.vsix');
  process.exit(2);
}
const entries = execFileSync('unzip', ['-Z1', vsix], { encoding: 'utf8' }).split('\n').filter(Boolean);
const problems = [];
const must = [
  'extension/package.json',
  'extension/dist/extension.js',
  'extension/LICENSE.txt',
  'extension/readme.md',
  'extension/syntaxes/gradwatch.injection.json',
  'extension/syntaxes/gradwatch.suppression.injection.json',
  'extension/bundled/libs/gradwatch/__main__.py',
  'extension/bundled/libs/gradwatch/lsp/server.py',
  'extension/bundled/libs/pygls/__init__.py',
  'extension/bundled/libs/lsprotocol/__init__.py',
  'extension/bundled/libs/jedi/__init__.py',
  'extension/bundled/libs/parso/__init__.py',
  'extension/bundled/libs/cattrs/__init__.py',
  'extension/bundled/libs/attrs/__init__.py',
  'extension/bundled/libs/typing_extensions.py',
];
for (const file of must) {
  if (!entries.includes(file)) {
    problems.push(`missing ${file}`);
  }
}
const forbidden = [
  [/(^|\/)node_modules\//, 'node_modules'],
  [/^extension\/tests?\//, 'tests'],
  [/^extension\/client\//, 'client sources'],
  [/^extension\/server\//, 'server sources (the bundled copy is used)'],
  [/\.ts$/, 'TypeScript sources'],
  [/\.map$/, 'source maps'],
  [/(^|\/)\.venv\//, '.venv'],
  [/(^|\/)__pycache__\//, 'bytecode caches'],
  [/^extension\/\.artifacts\//, 'test artifacts'],
  [/^extension\/bundled\/libs\/bin\//, 'pip console scripts'],
  [/\.vsix$/, 'an older .vsix'],
];
for (const entry of entries) {
  for (const [pattern, what] of forbidden) {
    if (pattern.test(entry)) {
      problems.push(`${what} included: ${entry}`);
    }
  }
}
if (problems.length) {
  console.error(`vsix contents check failed for ${vsix}:\n  ${problems.slice(0, 30).join('\n  ')}`);
  process.exit(1);
}
console.log(`vsix contents: ${entries.length} files; runtime files present, nothing unwanted`);
