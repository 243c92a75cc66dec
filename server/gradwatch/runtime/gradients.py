"""Parameters an optimizer steps that never receive a gradient.

A `.detach()`, a `torch.no_grad()` or a `.data` between the loss and some
parameters leaves their `.grad` None: the optimizer skips them and they never
change, silently (the hazard of GW102). The sentinel sees it through torch's
global optimizer step hook: after each `optimizer.step()` (after, so that
LBFGS's closure has run its backward), every parameter that has not had a
gradient yet is looked at again; one that has is forgotten, so the check
costs next to nothing once training runs normally.

Reported at the end of the run, and only for parameters that went without a
gradient through every step of at least `MINIMUM_STEPS` steps while requiring
grad (see `starved` for modules): a layer unused in one step (a mixture of
experts, a branch) or never used is normal.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from gradwatch.runtime.frames import Frames, Site

MINIMUM_STEPS = 2


@dataclass
class Owner:
    """The module a parameter belongs to: plain data, so a report outlives the module."""

    module_id: int
    module_type: str
    name: str
    built_at: Site


@dataclass
class Candidate:
    """A parameter that has not had a gradient yet."""

    owner: Owner | None
    description: str  # for a tensor that belongs to no module built under the sentinel
    steps: int = 0
    stepped_at: Site | None = None


@dataclass
class GradientWatch:
    frames: Frames
    candidates: dict[int, tuple[weakref.ref, Candidate]] = field(default_factory=dict)
    # Candidates whose parameter was freed (at the end of the script, with its module).
    finished: list[Candidate] = field(default_factory=list)
    # Per optimizer: how many parameters it had when last scanned (new groups get scanned).
    scanned: "weakref.WeakKeyDictionary" = field(default_factory=weakref.WeakKeyDictionary)
    handle: object = None

    def install(self) -> None:
        from torch.optim.optimizer import register_optimizer_step_post_hook

        self.handle = register_optimizer_step_post_hook(self.after_step)

    def uninstall(self) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None

    def after_step(self, optimizer, args, kwargs) -> None:
        groups = optimizer.param_groups
        count = len(groups[0]["params"]) if len(groups) == 1 else sum(len(group["params"]) for group in groups)
        if self.scanned.get(optimizer) != count:
            self.scanned[optimizer] = count
            self._scan(groups)
        if not self.candidates:
            return
        for key, (reference, candidate) in list(self.candidates.items()):
            parameter = reference()
            if parameter is None or parameter.grad is not None or not parameter.requires_grad:
                del self.candidates[key]  # trained, gone, or frozen on purpose
                continue
            candidate.steps += 1
            if candidate.stepped_at is None:
                candidate.stepped_at = self.frames.capture(0)

    def _scan(self, groups) -> None:
        owners = None
        for group in groups:
            for parameter in group["params"]:
                key = id(parameter)
                if parameter.grad is not None or key in self.candidates:
                    continue
                if owners is None:
                    owners = self._owners()
                candidate = Candidate(owners.get(key), f"{parameter.type()} {list(parameter.shape)}")
                if candidate.owner is not None:
                    # From now on its module's calls are followed (called? output in a graph?).
                    self.frames.modules.watched.add(candidate.owner.module_id)
                self.candidates[key] = (weakref.ref(parameter, self._freed(key)), candidate)

    def _freed(self, key: int):
        def freed(_reference) -> None:
            entry = self.candidates.pop(key, None)
            if entry is not None:
                self.finished.append(entry[1])

        return freed

    def _owners(self) -> dict[int, Owner]:
        """id(parameter) -> its Owner, for the modules built under the sentinel."""
        owners = {}
        for reference, site in list(self.frames.modules.sites.values()):
            module = reference()
            if module is None:
                continue
            for name, parameter in module._parameters.items():
                if parameter is not None:
                    owners[id(parameter)] = Owner(id(module), type(module).__name__, name, site)
        return owners

    def starved(self) -> list[Candidate]:
        """The parameters that went without a gradient through at least MINIMUM_STEPS steps.

        Of a module's parameters, only when the module was called and its output never
        required grad (it ran under no_grad, or on detached values): a module never
        called, or whose output was in a graph but unused (a backbone's classifier when
        only its features are used), expects no gradient. Calls are counted from the step
        after which its parameters were first seen without a gradient (`ModuleCalls.watched`)."""
        alive = [candidate for reference, candidate in self.candidates.values() if reference() is not None]
        modules = self.frames.modules
        return [
            candidate
            for candidate in [*self.finished, *alive]
            if candidate.steps >= MINIMUM_STEPS
            and (
                candidate.owner is None
                or (candidate.owner.module_id in modules.called and candidate.owner.module_id not in modules.in_graph)
            )
        ]
