"""Replaying a function's analysis from the language server's per-document cache.

A function whose text, place and surroundings are unchanged produces the same
events (scope_cache.py keeps them). A function whose calls ran other functions
of the file also depends on their text and on the module-level code: it is
replayed only while those are unchanged too.

A mixin of the Interpreter (interpreter.py).
"""

from __future__ import annotations

import ast

from gradwatch.analysis import calls, module_dicts
from gradwatch.analysis.values import ModuleClass


# distribution_transforms.call_method looks for `cache_size`; module_dicts for calls that
# register attributes by name.
_WORDS_READ_IN_WHOLE_CLASSES = ("cache_size", *sorted(module_dicts.REGISTERING))


class CachedScopes:
    def analyse_function(self, node: ast.FunctionDef, in_class: ModuleClass | None) -> None:
        key = self.cache_key(node, in_class) if self.cache is not None else None
        cached = self.cache.get(key) if key is not None else None
        if cached is not None and all(self._unchanged(dependency) for dependency in cached[2]):
            events, names, _, steps = cached
            self.steps.take(steps)  # as if run: the file's budget does not depend on the cache
            for event in events:
                self.events[("cached", id(event))] = event
            self.names.update({id(entry): entry for entry in names})
            return
        events_before, names_before, steps_before = set(self.events), set(self.names), self.steps.taken
        self.used_other_files = False
        followed = self.calls.track()
        try:
            self.run_function(node, in_class)
        finally:
            self.calls.untrack(followed)
        if key is not None and not self.used_other_files:  # other files may change unseen
            events = [e for k, e in self.events.items() if k not in events_before]
            names = [n for k, n in self.names.items() if k not in names_before]
            steps = self.steps.taken - steps_before
            self.cache.put(key, (events, names, self._dependencies(followed), steps))

    def _dependencies(self, followed: set) -> tuple:
        """What a function's events depend on besides its own text: the functions its
        calls ran, and the module-level code whose names those calls read."""
        if not followed:
            return ()
        owners = {id(item): cls.name for cls in self.class_nodes.values() for item in cls.body}
        functions = [(owners.get(id(f), ""), f.name, self.source.segment(f)) for f in followed]
        return (("", "<module>", self._module_text()), *sorted(functions))

    def _unchanged(self, dependency: tuple) -> bool:
        owner, name, text = dependency
        if name == "<module>":
            return text == self._module_text()
        current = calls.method_of(self, owner, name) if owner else self.functions.get(name)
        return current is not None and self.source.segment(current) == text

    def _module_text(self) -> str:
        if self._module_statements is None:
            body = self.facts.tree.body if self.facts.tree is not None else []
            self._module_statements = "\n".join(
                self.source.segment(s)
                for s in body
                if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            )
        return self._module_statements

    def _fingerprint(self, name: str, value):
        """A class of this file stands for its text (its value holds tensor identities that
        differ from one run to the next although nothing changed): the text others see
        without running its methods. That is its header, its class-level statements,
        `__init__` (run to find its attributes) and the names of its other methods; a
        method that a function runs is a dependency of that function of its own (see
        `_dependencies`), so an edit inside one method does not invalidate every function."""
        node = self.class_nodes.get(name)
        if not isinstance(value, ModuleClass) or node is None:
            return (name, value)
        segment = self.source.segment
        parts = [segment(item) for item in (*node.decorator_list, *node.bases, *node.keywords)]
        for item in node.body:
            method = isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name != "__init__"
            parts.append(f"def {item.name}" if method else segment(item))
        # Words that analyses read anywhere in a class, methods included.
        text = segment(node)
        return (name, tuple(parts), tuple(word in text for word in _WORDS_READ_IN_WHOLE_CLASSES))

    def cache_key(self, node: ast.FunctionDef, in_class: ModuleClass | None):
        """What the function's events depend on: its text and place, and what it sees from outside."""
        if self._globals_key is None:
            try:
                self._globals_key = hash(tuple(self._fingerprint(name, value) for name, value in self.globals.items()))
            except TypeError:  # an unhashable value: do not cache
                self._globals_key = False
        if self._globals_key is False:
            return None
        return (
            self.source.segment(node),
            node.lineno,
            node.col_offset,
            self._globals_key,
            self._fingerprint(in_class.name, in_class) if in_class is not None else None,
            self.is_forward(node),
            self.collect_names,
        )
