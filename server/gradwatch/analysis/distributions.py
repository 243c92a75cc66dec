"""torch.distributions objects: what their draws and densities backpropagate through.

A distribution holds the tensors it was built from. `sample()` draws under
no_grad, so what is computed from a draw has no gradient path to them (the
reparameterised `rsample()`, where the distribution has one, keeps it);
`rsample()`, `log_prob()` and `entropy()` are differentiable in them. Some
distributions compute a tensor once per object that every later density goes
through: the logits from `probs=` (computed on first use and kept), Categorical's
normalised logits (computed when built). Two losses from one such object then
share that part of the graph, and a second backward raises (pytorch/pytorch
issue 11192). Measured on torch 2.13: `has_rsample`, and which constructions
share (two `log_prob` losses backpropagated one after the other).
"""

from __future__ import annotations

import ast
from dataclasses import replace

from gradwatch.analysis import tensor_ops
from gradwatch.analysis.state import State
from gradwatch.analysis.values import (
    NO,
    UNKNOWN,
    YES,
    Constant,
    Cut,
    Distribution,
    SavedOp,
    Tensor,
    Tri,
    merged_uncertain,
    union_deps,
)
from gradwatch.findings import Span

# Each distribution class (its name in torch.distributions) -> whether it has `rsample()`.
# Wrappers (Independent, TransformedDistribution, MixtureSameFamily) depend on what
# they wrap and are left unknown.
HAS_RSAMPLE = {
    **dict.fromkeys(
        "Beta Cauchy Chi2 ContinuousBernoulli Dirichlet Exponential FisherSnedecor Gamma GeneralizedPareto "
        "Gumbel HalfCauchy HalfNormal InverseGamma Kumaraswamy Laplace LogNormal LowRankMultivariateNormal "
        "MultivariateNormal Normal OneHotCategoricalStraightThrough Pareto RelaxedBernoulli "
        "RelaxedOneHotCategorical StudentT Uniform Weibull Wishart".split(),
        True,
    ),
    **dict.fromkeys(
        "Bernoulli Binomial Categorical Geometric LKJCholesky Multinomial NegativeBinomial OneHotCategorical "
        "Poisson VonMises".split(),
        False,
    ),
}
# The constructions whose densities share one computation: class -> {argument: position}.
SHARED = {
    "Bernoulli": {"probs": 0},
    "Binomial": {"probs": 1},
    "Categorical": {"probs": 0, "logits": 1},
    "OneHotCategorical": {"probs": 0, "logits": 1},
    "Multinomial": {"probs": 1, "logits": 2},
    "NegativeBinomial": {"probs": 1},
    "ContinuousBernoulli": {"probs": 0},
    "RelaxedBernoulli": {"probs": 1},
}
DENSITIES = ("log_prob", "entropy", "rsample")
SHARED_WHAT = "what it computes once from its parameters"  # SavedOp.what of the shared computation


def class_name(qualname: str) -> str | None:
    """`Normal` for `torch.distributions.Normal` or `torch.distributions.normal.Normal`."""
    if not qualname.startswith("torch.distributions."):
        return None
    name = qualname.rsplit(".", 1)[1]
    return name if name in HAS_RSAMPLE and qualname.count(".") <= 3 else None


def construct(ev, name: str, node: ast.Call, state: State) -> Distribution:
    args, keyword_values = ev.eval_arguments_and_keywords(node, state)
    values = (*args, *keyword_values)
    parameters = tuple(value for value in values if isinstance(value, Tensor))
    # Every argument a tensor or a number: then no other tensor can carry a gradient in.
    known = all(isinstance(value, (Tensor, Constant)) for value in values)
    shared = frozenset()
    built_from = _shared_argument(name, node, args, keyword_values)
    if isinstance(built_from, Tensor) and built_from.requires_grad is YES and state.grad_enabled is YES:
        storage = ev.storage_for(node, ("shared",))
        op = SavedOp(
            name, ev.span(node), ev.text(node), frozenset(), SHARED_WHAT, result=storage
        )
        state.freed.pop(op, None)  # made anew: a backward of an earlier object freed another one
        shared = frozenset({op})
    return Distribution(name, parameters, known, HAS_RSAMPLE[name], shared)


def method(ev, distribution: Distribution, name: str, node: ast.Call, state: State):
    """`d.sample()`, `d.rsample()`, `d.log_prob(x)`, `d.entropy()`; other methods are not known."""
    if name == "sample":
        ev.eval_arguments(node, state)
        return _draw(ev, distribution, node, state)
    if name in DENSITIES and (name != "rsample" or distribution.reparameterized):
        args = ev.eval_arguments(node, state)
        return _density(ev, distribution, args, node, state)
    return ev.unknown_call(node, state)


def relabelled(distribution: Distribution, value, ops) -> Distribution:
    """The distribution with its tensors and shared computation relabelled (iterations.py)."""
    return replace(distribution, parameters=tuple(map(value, distribution.parameters)), shared=ops(distribution.shared))


def _draw(ev, distribution: Distribution, node: ast.Call, state: State) -> Tensor:
    """A draw: no graph, whatever the parameters require; cut from them when one requires grad
    (by the no_grad it runs under, if any: there `rsample()` would not keep the path either)."""
    upstream = [p for p in distribution.parameters if p.requires_grad is YES]
    cuts = tensor_ops.merged_reasons(p.cuts for p in distribution.parameters)
    sources = frozenset().union(*(p.sources for p in upstream))
    if upstream and state.grad_enabled is NO:
        cuts += (tensor_ops.no_grad_cut(ev, node, state, sources),)
    elif upstream:
        instead = "; `rsample()` keeps it" if distribution.reparameterized else ""
        called = ev.span(node.func)  # `d.sample`: its name ends it
        name = Span(called.end_line, called.end_column - len("sample"), called.end_line, called.end_column)
        cuts += (
            Cut(
                ev.span(node),
                f"`{ev.text(node)}` draws without gradient{instead}",
                kind="sample",
                sources=sources,
                removal=name if distribution.reparameterized else None,
            ),
        )
    return Tensor(
        requires_grad=NO,
        is_leaf=YES,
        storage=ev.storage_for(node),
        cuts=cuts,
        deps=union_deps(p.deps for p in distribution.parameters),
        origin=ev.reason(node, f"`{ev.text(node)}`"),
        never_none=True,
    )


def _density(ev, distribution: Distribution, args: list, node: ast.Call, state: State) -> Tensor:
    """Differentiable in the parameters: their graphs, and the computation the object shares."""
    parameters = distribution.parameters
    given = [a for a in args if isinstance(a, Tensor)]
    if any(p.requires_grad is YES for p in parameters):
        upstream = YES
    elif distribution.known and all(isinstance(a, (Tensor, Constant)) for a in args):
        upstream = Tri.any_of([t.requires_grad for t in (*parameters, *given)])
    else:
        upstream = UNKNOWN
    if state.grad_enabled is YES:
        requires = upstream
    else:
        requires = NO if state.grad_enabled is NO or upstream is NO else UNKNOWN
    in_graph = requires is not NO
    history = frozenset().union(*(p.history for p in parameters)) if in_graph else frozenset()
    if requires is YES:
        history |= distribution.shared
    tensors = [*parameters, *given]
    return Tensor(
        requires_grad=requires,
        is_leaf=NO if requires is YES else (YES if requires is NO else UNKNOWN),
        storage=ev.storage_for(node),
        history=history,
        uncertain=merged_uncertain(parameters) if in_graph else frozenset(),
        sources=frozenset().union(*(p.sources for p in parameters)) if in_graph else frozenset(),
        cuts=tensor_ops.merged_reasons(t.cuts for t in tensors),
        deps=union_deps(t.deps for t in tensors),
        origin=ev.reason(node, f"`{ev.text(node)}`"),
        # Which of the distribution's own ops saved this result is not known: an in-place
        # write to it may or may not make backward raise.
        known=False,
        never_none=True,
    )


def _shared_argument(name: str, node: ast.Call, args: list, keyword_values: list):
    """The value of the argument a construction shares a computation of (`probs`), if given."""
    for argument, position in SHARED.get(name, {}).items():
        for given, value in zip(node.keywords, keyword_values):
            if given.arg == argument:
                return value
        if position < len(args) and not any(isinstance(a, ast.Starred) for a in node.args[: position + 1]):
            return args[position]
    return None
