"""Replaying a function's (or a module-level statement's) analysis from the language
server's per-document cache.

A function whose text, place and surroundings are unchanged produces the same
events (scope_cache.py keeps them). Its surroundings are what the names it uses
are in the file: which imports and classes (a class by its text and what that text
names), whether a function or methods of the file. A function whose calls ran
other functions of the file also depends on their text and on what the module
body bound the names they looked up to (a tensor or a model made there holds
identities each run numbers anew: it is the same only where its statements were
replayed). What it read of other files (cross-module analysis) is replayed while
those files are unchanged on disk, and what it spent of the file's budget of
calls while the calls it followed would still be followed.

The module body is replayed one top-level statement at a time. A statement's key
chains the key that stands for the state before it with its own text and place (a
def or class of the file only leaves its name to the imports and classes). The
first key stands for how the module is analysed (Interpreter.relevant, the
imports of other files); the state after a statement has a key unique to the run
that made it. Statements are replayed (events, hover names, steps and calls taken)
while their dependencies hold; the first that is not runs from the state after the
last one replayed (each entry keeps a copy), and so do the ones after it, until one
of them leaves the very state its last run left: from there the statements are
replayed again, that run's chain continued. A statement after which no path goes on
(`raise SystemExit`) ends the module body, replayed or run.

A mixin of the Interpreter (interpreter.py).
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import os
from typing import NamedTuple

from gradwatch.analysis import calls, dependency_log, module_dicts
from gradwatch.analysis.state import same_facts
from gradwatch.analysis.syntax import DEFINITIONS, used_names
from gradwatch.analysis.values import ModuleClass, UserFunction


# distribution_transforms.call_method looks for `cache_size`; module_dicts for calls that
# register attributes by name.
_WORDS_READ_IN_WHOLE_CLASSES = ("cache_size", *sorted(module_dicts.REGISTERING))
_GLOBAL = "<global>"  # a name the module body left bound as the file's imports and classes bind it
_FUNCTION = "<function>"  # a name bound to a function of the file
_RUNS = itertools.count()  # tells apart the states two runs of one module-level statement leave


class _Entry(NamedTuple):
    """What one run of a scope (a function, or one module-level statement) did."""

    events: list
    names: list  # hover names
    dependencies: tuple
    steps: int
    calls: tuple  # (the file's budget of calls before it, what it spent of it)
    calls_other_files: bool
    ran_unknowing: tuple  # the functions it added to calls.ran_unknowing
    # A module-level statement's: a copy of the module's state after it, the key that stands
    # for that state in the next statement's key, and whether no path went on after it.
    after: object = None
    after_key: bytes = b""
    ended: bool = False


class CachedScopes:
    def analyse_function(self, node: ast.FunctionDef, in_class: ModuleClass | None) -> None:
        key = self.cache_key(node, in_class) if self.cache is not None else None
        if self._replay(key) is None:
            self._record(key, [node], lambda: self.run_function(node, in_class))

    def work_out_classes(self, classes: list) -> None:
        """Run the `__init__` of each (node, ModuleClass) of the file, in order, for its
        attributes (classes.InitAttributes). The editor replays them all from the cache while
        the classes' text and place, what the names they use are in the file, the functions
        their `__init__` ran and the other files it read are unchanged: an edit elsewhere
        runs no `__init__`. What the runs did is replayed with them (hover names, steps and
        calls taken, the files read), and so are the tensor identities they made: a scope
        that evaluates the same expression in the same context gets the same one."""
        key = self._classes_key([node for node, _ in classes]) if self.cache is not None else None
        entry = self._replay(key)
        if entry is not None:
            results, storages, _ = entry.after
            for (_, value), result in zip(classes, results):
                value.init.replayed(result)
            self._storages.update(storages)
            for dependency in entry.dependencies:
                if dependency[1] == "<files>":  # read again, as a run would: the file's own keys hold them
                    for path, _ in dependency[2]:
                        dependency_log.note(path)
            return
        made_before = len(self._storages)
        entry = self._record(key, [node for node, _ in classes], lambda: [value.init.worked_out() for _, value in classes])
        if entry is not None:
            storages = tuple(itertools.islice(self._storages.items(), made_before, None))
            # The identities are keyed by the id() of nodes: the entry keeps the nodes alive.
            results = tuple(value.init.result for _, value in classes)
            self.cache.put(key, entry._replace(after=(results, storages, tuple(node for node, _ in classes))))

    def _classes_key(self, nodes: list) -> tuple | None:
        if not self._globals_hashable():
            return None
        return (
            "<classes>",
            tuple((id(node), self._text_and_place(node)) for node in nodes),
            self.collect_names,
            self._resolver_identity(),
            self.star_modules,
        )

    def analyse_module_body(self, tree: ast.Module, state) -> None:
        """Run the module's own statements into `state`, one at a time, replaying from the
        cache those before the first one that must run (see the module docstring)."""
        start = self._module_key()  # stands for the state the first statement starts from
        if start is None:
            self.exec_block(tree.body, state)
            return
        before, replaying, last = start, True, None  # `last`: the entry of the last statement replayed
        for index, statement in enumerate(tree.body):
            signature = self._signature(statement)
            at = ("<statement>", start, index)  # the last runs' entry for the statement here
            key = _chained(before, signature)
            if replaying:
                entry = self._replay(key)
                if entry is not None:
                    self.cache.put(at, entry)  # kept for the next run
                    last, before = entry, entry.after_key
                    if entry.ended:
                        self._restore(entry, state)
                        return
                    continue
                replaying = False
                if last is not None:
                    self._restore(last, state)
            before = _chained(key, next(_RUNS))  # a state of this run: no entry was made from it
            run = lambda: self.exec_block([statement], state)  # noqa: E731
            entry = self._record(key, [statement], run, state, (before, at))
            if entry.ended:
                return  # no path goes on (`raise SystemExit`): the later statements do not run
            if entry.after_key != before:  # the last run's chain goes on from here
                before, replaying, last = entry.after_key, True, entry
        if replaying and last is not None:
            self._restore(last, state)

    def _module_key(self) -> bytes | None:
        """The start of the module statements' chain of keys: what every one of them sees."""
        if self.cache is None or not self._globals_hashable():
            return None
        return _chained(
            b"",
            (
                (self.backprop_scope, self.follow_other_files, self.shapes_only),  # Interpreter.relevant(tree)
                self.collect_names,
                self._resolver_identity(),
                sorted(self.globals_files, key=repr),
                self.star_modules,
            ),
        )

    def _signature(self, statement: ast.stmt) -> tuple:
        """What running a top-level statement reads of its own text: a def or class of the file
        at module level only leaves its name to the imports and classes (Interpreter.exec_ClassDef)."""
        if isinstance(statement, DEFINITIONS):
            top_level = self.functions.get(statement.name) is statement or self.class_nodes.get(statement.name) is statement
            return (type(statement).__name__, statement.name, top_level)
        return (statement.lineno, statement.col_offset, self.source.segment(statement), self._recovered_in(statement))

    def _restore(self, entry: _Entry, state) -> None:
        state.become(entry.after.copy())
        state.outer = self.globals  # this run's imports and classes

    def _replay(self, key) -> _Entry | None:
        """The cache's entry for `key` when its dependencies hold, its events, names, steps and
        calls taken as if it had run; else None."""
        entry = self.cache.get(key, self._replayable) if key is not None else None
        if entry is None:
            return None
        self.steps.take(entry.steps)  # as if run: the file's budget does not depend on the cache
        self.calls.budget -= entry.calls[1]  # so is the budget of calls the scopes after it may follow
        for event in entry.events:
            self.events[("cached", id(event))] = event
        # Keyed by the name's node, as a run records it: a run of the scope after it (a class's
        # `__init__`, then the method itself) names the same nodes again, not new ones.
        self.names.update({id(name[0]): name for name in entry.names})
        self.facts.calls_other_files |= entry.calls_other_files  # the editor follows them in a second pass
        self.calls.ran_unknowing.update(entry.ran_unknowing)
        return entry

    def _record(self, key, scopes: list, run, state=None, chain: tuple = ()) -> _Entry | None:
        """`run()` and keep what it did under `key`; the entry kept. A module-level statement's
        entry also holds the module's `state` after it and the key that stands for that state:
        `chain` is the key for a state of this run and where the last runs' entry for the
        statement at this place is kept. When that entry left the same state, its copy and its
        key stand for this one: the statements after it can be replayed from that run's chain
        (their keys hold their text and place)."""
        if key is None:  # nothing is kept (a CLI run): nothing to note either
            run()
            return None
        events, names, steps_before = self.events, self.names, self.steps.taken
        self.events, self.names = {}, {}  # what this scope emits, kept apart while it runs
        budget_before, ran_before = self.calls.budget, set(self.calls.ran_unknowing)
        calls_before, self.facts.calls_other_files = self.facts.calls_other_files, False
        followed = self.calls.track()
        try:
            with dependency_log.recording() as files_read:  # by following calls into other files
                result = run()
        finally:
            self.calls.untrack(followed)
            calls_other_files = self.facts.calls_other_files
            self.facts.calls_other_files |= calls_before
            emitted, named = self.events, self.names
            self.events, self.names = events, names
        # What it added: a name or event another run made (the class's run of `__init__` in
        # collect_globals, every run) is not the scope's to replay.
        new_events = [event for k, event in emitted.items() if k not in events]
        new_names = [name for k, name in named.items() if k not in names]
        events.update(emitted)
        names.update(named)
        dependencies = self._dependencies(scopes, followed, module_body=state is not None)
        dependencies += (("", "<files>", self.file_stamps(files_read)),)
        entry = _Entry(
            new_events,
            new_names,
            dependencies,
            self.steps.taken - steps_before,
            (budget_before, budget_before - self.calls.budget),
            calls_other_files,
            tuple(sorted(self.calls.ran_unknowing - ran_before)),
        )
        if state is not None:
            after_key, at = chain
            earlier = self.cache.get(at)
            if result is not None and earlier is not None and not earlier.ended and same_facts(state, earlier.after):
                entry = entry._replace(after=earlier.after, after_key=earlier.after_key)
            else:
                entry = entry._replace(after=state.copy(), after_key=after_key, ended=result is None)
            self.cache.put(at, entry)
        self.cache.put(key, entry)
        return entry

    def _replayable(self, entry: _Entry) -> bool:
        return self._same_calls_followed(entry.calls) and all(self._unchanged(d) for d in entry.dependencies)

    def _same_calls_followed(self, calls: tuple) -> bool:
        """Would the scope follow the calls it followed when recorded, with the budget of calls
        left now? Yes if that run never ran out (it would not now either), else only with the
        same budget."""
        budget_then, spent = calls
        if budget_then - spent > 0:
            return self.calls.budget - spent > 0
        return self.calls.budget == budget_then

    def file_stamps(self, paths) -> frozenset:
        """(path, its size and modification time, or None when absent) for each path."""
        return frozenset((path, self._file_stamp(path)) for path in paths)

    def _file_stamp(self, path: str):
        if path not in self._stamps_seen:  # once per run: many scopes read the same files
            try:
                info = os.stat(path)
                self._stamps_seen[path] = (info.st_size, info.st_mtime_ns)
            except OSError:
                self._stamps_seen[path] = None
        return self._stamps_seen[path]

    def _dependencies(self, scopes, followed: calls.Followed, module_body: bool) -> tuple:
        """What a scope's events depend on besides its own text (`scopes`: the function, or the
        module's own statements): what the names it and the functions its calls ran use name
        among the file's functions and methods, those functions' text, and, for a function,
        what the module body bound the names those functions looked up to."""
        ran = followed.functions
        names = tuple(sorted(frozenset().union(*(used_names(f) for f in (*scopes, *ran)))))
        meanings = ("", "<names>", (names, self._meanings_of(names)))
        if not ran:
            return (meanings,)
        owners = {id(item): cls.name for cls in self.class_nodes.values() for item in cls.body}
        top_level = {id(statement) for statement in self.facts.tree.body} if self.facts.tree is not None else set()
        # A def nested in a function (or in module-level code) ran only because the code
        # around it did, whose text is a dependency already: it has no name to look it up by.
        functions = [
            (owners.get(id(f), ""), f.name, self._text_and_place(f))
            for f in ran
            if id(f) in owners or id(f) in top_level
        ]
        if module_body:  # they read what it bound so far: its chain of keys stands for that
            return (meanings, *sorted(functions))
        return (meanings, self._module_dependency(followed.module_names), *sorted(functions))

    def _module_dependency(self, names: set[str]) -> tuple:
        """What the module body left bound to `names` (`_module_binding`)."""
        return ("", "<module names>", tuple(sorted((name, self._module_binding(name)) for name in names)))

    def _module_binding(self, name: str):
        """What the module body left `name` bound to. A tensor or a model made there holds
        identities that each run numbers anew: it equals the last run's only where the
        statements that made it were replayed (their state is the very one kept)."""
        module = self.calls.module_state
        value = module.bindings.get(name, _GLOBAL) if module is not None else _GLOBAL
        if value is _GLOBAL or value is self.globals.get(name):
            return _GLOBAL, self._global(name)  # an import, class or function of the file
        return value

    def _named(self, name: str) -> tuple:
        """What `name` is in the file, for the scopes that use it: `_meaning` and `_global` (once per run)."""
        named = self._names_seen.get(name)
        if named is None:
            named = self._names_seen[name] = (self._meaning(name), self._global(name))
        return named

    def _meanings_of(self, names: tuple) -> tuple:
        """`_named` of each of `names`, in order (one look-up each once this run has seen them all)."""
        seen = self._names_seen
        try:
            return tuple(map(seen.__getitem__, names))
        except KeyError:
            return tuple(map(self._named, names))

    def _meaning(self, name: str) -> tuple:
        """Whether `name` is a function of the file, the classes that have a method by that name,
        and, with a star import, whether the file binds it (else it may come from there)."""
        if self._methods_by_name is None:
            self._methods_by_name = {}
            for cls in self.class_nodes.values():
                for item in cls.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self._methods_by_name.setdefault(item.name, set()).add(cls.name)
        bound_here = bool(self.star_modules) and name in self.not_from_star_import
        return (name in self.functions, tuple(sorted(self._methods_by_name.get(name, ()))), bound_here)

    def _unchanged(self, dependency: tuple) -> bool:
        owner, name, text = dependency
        if name == "<names>":
            used, meanings = text
            return self._meanings_of(used) == meanings
        if name == "<files>":
            return all(self._file_stamp(path) == stamp for path, stamp in text)
        if name == "<module names>":
            return all(self._module_binding(used) == binding for used, binding in text)
        current = calls.method_of(self, owner, name) if owner else self.functions.get(name)
        return current is not None and self._text_and_place(current) == text

    def _text_and_place(self, node: ast.AST) -> tuple:
        """A function's text and where it starts: the events its callers replay cite its lines."""
        return (node.lineno, node.col_offset, self._def_text(node))

    def _def_text(self, node: ast.AST) -> tuple:
        """A def's text, its decorators (`@torch.no_grad()`: above the `def` line) included."""
        decorators = getattr(node, "decorator_list", ())
        return (*(self.source.segment(d) for d in decorators), self.source.segment(node), self._recovered_in(node))

    def _recovered_in(self, node: ast.AST, last: int | None = None) -> tuple:
        """The lines of `node` (up to line `last`) that syntax recovery changed, counted from
        its first line: the same text parses to another tree where an error elsewhere made
        recovery change more (or less) of it."""
        if not self.recovered_lines:
            return ()
        decorators = getattr(node, "decorator_list", None)
        first = decorators[0].lineno if decorators else node.lineno
        last = node.end_lineno if last is None else last
        return tuple((line - first, text) for line, text in self.recovered_lines if first <= line <= last)

    def _fingerprint(self, name: str, value):
        """A class of this file stands for its text and place (its value holds tensor
        identities that differ from one run to the next although nothing changed): the
        text others see without running its methods. That is its header, its class-level statements and
        `__init__` (run to find its attributes); the methods a function runs, and whether
        the names it uses name methods, are dependencies of that function of its own (see
        `_dependencies`), so an edit inside one method does not invalidate every function."""
        node = self.class_nodes.get(name)
        if not isinstance(value, ModuleClass) or node is None:
            return (name, value)
        segment = self.source.segment
        parts = [segment(item) for item in (*node.decorator_list, *node.bases, *node.keywords)]
        parts.append(self._recovered_in(node, last=node.body[0].lineno - 1))  # the header's lines
        for item in node.body:
            if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) or item.name == "__init__":
                parts.append((segment(item), self._recovered_in(item)))
        # Which methods it has (`model(x)` runs `forward`, `Net()` runs `__init__`), and words
        # that analyses read anywhere in a class, methods included.
        methods = tuple(item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)))
        text = segment(node)
        # And where it is: events of the scopes that use it cite its lines (the `inplace=True`
        # of a submodule its `__init__` builds), and a scope above it stays where it was
        # when lines are added or removed between them.
        place = (node.lineno, node.col_offset)
        words = tuple(word in text for word in _WORDS_READ_IN_WHOLE_CLASSES)
        return (name, place, tuple(parts), methods, words)

    def _globals_hashable(self) -> bool:
        """Whether every import and class of the file can be part of a key (nothing is cached
        when one cannot)."""
        if self._globals_key is None:
            try:
                hash(tuple(self._fingerprint(name, value) for name, value in self.globals.items()))
                self._globals_key = True
            except TypeError:
                self._globals_key = False
        return self._globals_key

    def _global(self, name: str):
        """What a scope that uses `name` depends on of the file's imports and classes: the
        import's value, a class's text with what that text uses (`_class_fingerprint`), that a
        function of the file is meant (its text is a dependency when it runs), None for a
        name they do not bind."""
        if name not in self._globals_seen:
            value = self.globals.get(name)
            if isinstance(value, UserFunction) and name in self.functions:
                value = _FUNCTION
            elif isinstance(value, ModuleClass) and name in self.class_nodes:
                value = self._class_fingerprint(name)
            self._globals_seen[name] = value
        return self._globals_seen[name]

    def _class_fingerprint(self, name: str) -> int:
        """A class's value depends on its text (`_fingerprint`), on the file's other classes its
        text names (their texts in turn), and on what the names in those texts are otherwise:
        imports (`nn`), functions of the file (`__init__` may call one), or nothing yet. A
        hash of those: every method's key holds it, and a large class names hundreds of names."""
        reached, waiting = {name}, [name]
        while waiting:
            for used in used_names(self.class_nodes[waiting.pop()]):
                if used not in reached and used in self.class_nodes and isinstance(self.globals.get(used), ModuleClass):
                    reached.add(used)
                    waiting.append(used)
        texts = tuple(self._fingerprint(each, self.globals[each]) for each in sorted(reached))
        outside = frozenset().union(*(used_names(self.class_nodes[each]) for each in reached)) - reached
        return hash((texts, frozenset((used, self._outside_a_class(used)) for used in outside)))

    def _outside_a_class(self, name: str):
        value = self.globals.get(name)
        if isinstance(value, UserFunction) and name in self.functions:
            return self._text_and_place(self.functions[name])
        return value

    def cache_key(self, node: ast.FunctionDef, in_class: ModuleClass | None):
        """What the function's events depend on: its text and place, and what it sees from
        outside, besides the imports and classes it names (a dependency: `_dependencies`)."""
        if not self._globals_hashable():
            return None
        return (
            self._def_text(node),
            node.lineno,
            node.col_offset,
            self._global(in_class.name) if in_class is not None else None,
            self.is_forward(node),
            self.forward_may_make_events(node),  # may change with text its class's text names
            self.names_only,  # a run for the hover's names keeps no events
            self.collect_names,
            self._resolver_identity(),
            self.globals_files,  # classes from other files, read when their values were made
            self.star_modules,  # where a name left unbound comes from (which ones: `_meaning`)
        )

    def _resolver_identity(self):
        """Which project other files were followed in (an analysis that followed no file, or
        other ones, is no answer for this one)."""
        return None if self.resolver is None else self.resolver.identity


def _chained(key: bytes, signature: tuple) -> bytes:
    """The key of the next link of a chain (a digest: two different chains must not meet)."""
    return hashlib.blake2b(key + repr(signature).encode("utf-8", "surrogatepass"), digest_size=16).digest()


