// Tokenizes Python lines with the real TextMate engine (vscode-textmate + vscode-oniguruma, as VS Code does) and
// checks the scopes our injection grammars add. The host `source.python` grammar here is a small stand-in with
// comments, strings and a member-access rule shaped like MagicPython's (which consumes the `.` before a method
// name), because the real one is not published on npm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vsctm from 'vscode-textmate';
import oniguruma from 'vscode-oniguruma';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const hostPython = {
  scopeName: 'source.python',
  patterns: [{ include: '#comment' }, { include: '#string' }, { include: '#member-access' }],
  repository: {
    comment: {
      name: 'comment.line.number-sign.python',
      begin: '(#)',
      beginCaptures: { 1: { name: 'punctuation.definition.comment.python' } },
      end: '$',
    },
    string: {
      patterns: [
        { name: 'string.quoted.docstring.multi.python', begin: '"""', end: '"""' },
        { name: 'string.quoted.single.python', begin: "'", end: "'|$" },
        { name: 'string.quoted.double.python', begin: '"', end: '"|$' },
      ],
    },
    'member-access': {
      name: 'meta.member.access.python',
      begin: '(\\.)\\s*(?!\\.)',
      beginCaptures: { 1: { name: 'punctuation.separator.period.python' } },
      end: '(?<=\\S)(?=\\W)|$',
      patterns: [{ match: '\\w+', name: 'meta.attribute.python' }],
    },
  },
};

const manifest = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
const injectionGrammars = new Map();
for (const contribution of manifest.contributes.grammars) {
  const grammar = JSON.parse(await readFile(path.join(root, contribution.path), 'utf8'));
  injectionGrammars.set(contribution.scopeName, { grammar, contribution });
}

const wasm = await readFile(require.resolve('vscode-oniguruma/release/onig.wasm'));
await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));

const registry = new vsctm.Registry({
  onigLib: Promise.resolve({
    createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
    createOnigString: (text) => new oniguruma.OnigString(text),
  }),
  loadGrammar: async (scopeName) => {
    if (scopeName === 'source.python') {
      return vsctm.parseRawGrammar(JSON.stringify(hostPython), 'python.json');
    }
    const injected = injectionGrammars.get(scopeName);
    return injected ? vsctm.parseRawGrammar(JSON.stringify(injected.grammar), `${scopeName}.json`) : null;
  },
  // Mirrors VS Code: a grammar contribution with injectTo is injected into those scopes.
  getInjections: (scopeName) =>
    [...injectionGrammars.values()]
      .filter(({ contribution }) => (contribution.injectTo ?? []).includes(scopeName))
      .map(({ contribution }) => contribution.scopeName),
});
const python = await registry.loadGrammar('source.python');

/** Returns [{text, scopes}] for one line. */
function tokenize(line) {
  const { tokens } = python.tokenizeLine(line, vsctm.INITIAL);
  return tokens.map((token) => ({ text: line.slice(token.startIndex, token.endIndex), scopes: token.scopes }));
}

/** The scopes of the token(s) covering exactly `text` in `line`, which must appear in it. */
function scopesOf(line, text) {
  const tokens = tokenize(line);
  const start = line.indexOf(text);
  assert.notEqual(start, -1, `${text} not in ${line}`);
  let offset = 0;
  const covering = [];
  for (const token of tokens) {
    const end = offset + token.text.length;
    if (end > start && offset < start + text.length) {
      covering.push(token);
    }
    offset = end;
  }
  const joined = covering.map((token) => token.text).join('');
  assert.ok(joined.includes(text), `tokens ${JSON.stringify(covering.map((t) => t.text))} split "${text}" apart`);
  assert.equal(covering.length, 1, `"${text}" spans several tokens: ${JSON.stringify(tokenize(line))}`);
  return covering[0].scopes;
}

function allScopes(line) {
  return tokenize(line).flatMap((token) => token.scopes);
}

const GRADWATCH = /\.gradwatch$/;

test('manifest injects both grammars into source.python', () => {
  assert.equal(injectionGrammars.size, 2);
  for (const { grammar, contribution } of injectionGrammars.values()) {
    assert.deepEqual(contribution.injectTo, ['source.python']);
    assert.equal(grammar.scopeName, contribution.scopeName);
    assert.match(grammar.injectionSelector, /^L:source\.python/);
  }
});

test('in-place method calls get the in-place scope', () => {
  for (const [line, name] of [
    ['y.add_(x)', 'add_'],
    ['    out.mul_(2.0)', 'mul_'],
    ['w.data.clamp_(min=0)', 'clamp_'],
    ['p.grad.zero_ ()', 'zero_'],
    ['h = h.relu_()', 'relu_'],
  ]) {
    const scopes = scopesOf(line, name);
    assert.ok(scopes.includes('entity.name.function.inplace.gradwatch'), `${line}: ${scopes}`);
    assert.ok(scopes.includes('meta.function-call.inplace.gradwatch'), `${line}: ${scopes}`);
  }
});

test('the dot-consuming member-access rule of the host grammar does not hide in-place calls', () => {
  // In the stand-in host grammar `.` starts meta.member.access.python; our match must still win.
  const scopes = scopesOf('y.sub_(1)', 'sub_');
  assert.ok(scopes.includes('entity.name.function.inplace.gradwatch'), String(scopes));
});

test('graph-cutting calls and backward get their own scopes', () => {
  for (const name of ['detach', 'item', 'numpy', 'tolist']) {
    const line = `value = loss.${name}()`;
    const scopes = scopesOf(line, name);
    assert.ok(scopes.includes('entity.name.function.graph-cut.gradwatch'), `${line}: ${scopes}`);
  }
  const backward = scopesOf('loss.backward(retain_graph=True)', 'backward');
  assert.ok(backward.includes('entity.name.function.backward.gradwatch'), String(backward));
  assert.ok(!backward.includes('entity.name.function.graph-cut.gradwatch'));
});

test('near misses get no gradwatch scope', () => {
  for (const line of [
    'y.add(x)', // not in place
    'x.__iadd__(y)', // dunder
    'def add_(a, b): pass', // a definition, not a method call
    'add_(x)', // a plain function, not a tensor method
    'y.add_', // not called
    'y.detached()', // detach is a prefix only
    'y.item', // attribute, not a call
    'my_backward(x)',
    'opt.zero_grad()', // ends in a word, not an underscore
    's = "y.add_(x) and x.detach()"',
    "s = 'loss.backward()'",
    '"""y.mul_(2)"""',
  ]) {
    const gradwatchScopes = allScopes(line).filter((scope) => GRADWATCH.test(scope));
    assert.deepEqual(gradwatchScopes, [], `${line} got ${gradwatchScopes}`);
  }
});

test('calls inside comments are not marked as calls', () => {
  const scopes = allScopes('# y.add_(x) was here; loss.backward()');
  assert.ok(scopes.includes('comment.line.number-sign.python'));
  assert.ok(!scopes.some((scope) => /inplace|backward|graph-cut/.test(scope)), String(scopes));
});

test('noqa and gradwatch: ignore comments are suppression scopes with rule codes', () => {
  const noqaLine = 'y.add_(1)  # noqa: GW201, GW203';
  assert.ok(scopesOf(noqaLine, 'noqa').includes('keyword.other.suppression.gradwatch'));
  assert.ok(scopesOf(noqaLine, 'noqa').includes('comment.line.suppression.gradwatch'));
  for (const code of ['GW201', 'GW203']) {
    const scopes = scopesOf(noqaLine, code);
    assert.ok(scopes.includes('constant.other.rule-code.gradwatch'), `${code}: ${scopes}`);
    assert.ok(scopes.includes('comment.line.number-sign.python'), 'stays inside the comment');
  }

  const ignoreLine = 'loss.backward()  # gradwatch: ignore[GW101]';
  assert.ok(scopesOf(ignoreLine, 'ignore').includes('keyword.other.suppression.gradwatch'));
  assert.ok(scopesOf(ignoreLine, 'GW101').includes('constant.other.rule-code.gradwatch'));
  // The code part of the line keeps its own scope.
  assert.ok(scopesOf(ignoreLine, 'backward').includes('entity.name.function.backward.gradwatch'));

  const bare = scopesOf('x.add_(1)  # noqa', 'noqa');
  assert.ok(bare.includes('comment.line.suppression.gradwatch'));
});

test('suppression words outside comments are not suppressions', () => {
  for (const line of ['noqa = "noqa: GW201"', 'gradwatch_ignore = 1', 'print("# noqa: GW201")']) {
    const scopes = allScopes(line).filter((scope) => /suppression|rule-code/.test(scope));
    assert.deepEqual(scopes, [], `${line}: ${scopes}`);
  }
});

test('a comment without a directive gets no suppression scope', () => {
  const scopes = allScopes('# GW201 is explained in the docs; not a suppression');
  assert.ok(!scopes.some((scope) => /suppression|rule-code/.test(scope)), String(scopes));
});
