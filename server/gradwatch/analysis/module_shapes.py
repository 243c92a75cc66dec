"""The shapes of what torch modules (layers) return, from their configuration: a
Linear's `out_features`, a convolution's or pool's window sliding over the input's
spatial sizes, a recurrent module's `(output, h_n)` item by item (shapes.py has the
shape domain and the ops).
"""

from __future__ import annotations

import ast

from gradwatch.analysis.shapes import (
    UNKNOWN_ARGUMENT,
    Arguments,
    Shape,
    is_size,
    kept,
    reshaped,
    shaped_like_template,
)
from gradwatch.analysis.values import Constant, Tensor


def of_module(info, operands: list, node: ast.AST, module) -> Shape | None:
    """The shape of what calling `module` (whose op is `info`) on these operands returns."""
    if info.keeps_shape:
        return kept(info, operands, node)
    if info.numel == "scalar" and shaped_like_template(info, operands, node) and module.default_reduction:
        return ()
    return _module_result(module, [o for o in operands if isinstance(o, Tensor)])


# Modules whose output has their input's shape (measured only at one channel count by the probe).
_NORMALIZATIONS = {
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
    "InstanceNorm3d", "LocalResponseNorm",
}  # fmt: skip
# Positions of the constructor arguments that size a sliding window: (stride, padding, dilation,
# output_padding, ceil_mode, return_indices); None: the module takes no such argument.
_WINDOWS = {
    "Conv": (3, 4, 5, None, None, None),
    "ConvTranspose": (3, 4, 8, 5, None, None),
    "MaxPool": (1, 2, 3, None, 5, 4),
    "AvgPool": (1, 2, None, None, 3, None),
}


def _configuration(module):
    """`get(position, name, default)`: a constructor argument of `module`, `default` when it
    was not passed, `UNKNOWN_ARGUMENT` when it may have been passed but its value is not known."""
    config = dict(module.config)

    def get(position, name, default=None):
        if position in config or name in config:
            return config.get(position, config.get(name))
        return default if module.arguments_known else UNKNOWN_ARGUMENT

    return get


def _module_result(module, tensors: list) -> Shape | None:
    kind = module.kind.rsplit(".", 1)[-1]
    if not tensors or tensors[0].shape is None:
        return None
    shape = tensors[0].shape
    get = _configuration(module)
    if kind in _NORMALIZATIONS:
        return shape
    if kind == "Linear":
        out = get(1, "out_features")
        return (*shape[:-1], out if type(out) is int else None) if shape else None
    if kind == "Embedding":
        size = get(1, "embedding_dim")
        return (*shape, size if type(size) is int else None)
    family = kind.rstrip("123d")
    if kind[-2:] in ("1d", "2d", "3d") and family in (*_WINDOWS, "AdaptiveAvgPool", "AdaptiveMaxPool"):
        spatial = int(kind[-2])
        if len(shape) not in (spatial + 1, spatial + 2):
            return None
        if family.startswith("Adaptive"):
            # output_size: an int, or one per dim (None keeps the input's size)
            wanted = _per_dim(get(0, "output_size", UNKNOWN_ARGUMENT), spatial, allow_none=True) or (UNKNOWN_ARGUMENT,) * spatial
            sizes = (given if w is None else None if w is UNKNOWN_ARGUMENT else w for w, given in zip(wanted, shape[-spatial:]))
            return (*shape[:-spatial], *sizes)
        return _windowed(shape, spatial, family, get)
    if kind == "Flatten":
        start, end = get(0, "start_dim", 1), get(1, "end_dim", -1)
        arguments = Arguments([Constant(value=start), Constant(value=end)], None)
        return reshaped(arguments, "flatten", shape)
    return None


def _windowed(shape: Shape, spatial: int, family: str, get) -> Shape | None:
    """Convolutions and pools: the channels, then each spatial size from the window
    (kernel, stride, padding, dilation) sliding over it."""
    stride_at, padding_at, dilation_at, output_padding_at, ceil_at, indices_at = _WINDOWS[family]
    conv = family.startswith("Conv")
    kernel_at = 2 if conv else 0
    if indices_at is not None and get(indices_at, "return_indices", False) is not False:
        return None  # a tuple
    kernel = _per_dim(get(kernel_at, "kernel_size"), spatial)
    stride = _per_dim(get(stride_at, "stride", 1 if conv else None) or kernel, spatial)
    padding = get(padding_at, "padding", 0)
    dilation = _per_dim(get(dilation_at, "dilation", 1) if dilation_at is not None else 1, spatial)
    output_padding = _per_dim(get(output_padding_at, "output_padding", 0) if output_padding_at else 0, spatial)
    ceil_mode = get(ceil_at, "ceil_mode", False) if ceil_at is not None else False
    channels = shape[-spatial - 1]
    if conv:
        out = get(1, "out_channels")
        channels = out if type(out) is int else None
    padding = (0,) * spatial if padding == "valid" else padding
    sizes = []
    for i, size in enumerate(shape[-spatial:]):
        if padding == "same":
            sizes.append(size)
            continue
        pad = _per_dim(padding, spatial)
        known = [kernel, stride, pad, dilation, output_padding]
        if not is_size(size) or None in known or ceil_mode not in (True, False):
            sizes.append(None)
            continue
        k, s, p, d, extra = (values[i] for values in known)
        if family == "ConvTranspose":
            sizes.append((size - 1) * s - 2 * p + d * (k - 1) + extra + 1)
            continue
        span = size + 2 * p - d * (k - 1) - 1
        out = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= size + p:
            out -= 1
        if span < 0 or out <= 0:
            return None  # torch raises
        sizes.append(out)
    return (*shape[: -spatial - 1], channels, *sizes)


def _per_dim(value, spatial: int, allow_none: bool = False) -> tuple | None:
    """An int for every spatial dim, or a tuple of one per dim (None where not known)."""
    if type(value) is int:
        return (value,) * spatial
    if isinstance(value, tuple) and len(value) == spatial:
        return value if all(type(v) is int or (allow_none and v is None) for v in value) else None
    return None


# Positions of `batch_first` and `bidirectional` among the constructor arguments
# (`nn.RNN` takes `nonlinearity` fourth).
_RECURRENT = {"RNN": (5, 7), "GRU": (4, 6), "LSTM": (4, 6)}


def of_items(module, operands: list) -> list | None:
    """The shapes of the items of a module's tuple result, nested like it: an RNN's or a GRU's
    `(output, h_n)`, an LSTM's `(output, (h_n, c_n))`; None when not known."""
    kind = module.kind.rsplit(".", 1)[-1] if module is not None else None
    shape = operands[0].shape if operands and isinstance(operands[0], Tensor) else None
    if kind not in _RECURRENT or shape is None or len(shape) not in (2, 3):
        return None
    get = _configuration(module)
    first_at, both_at = _RECURRENT[kind]
    batch_first, bidirectional = get(first_at, "batch_first", False), get(both_at, "bidirectional", False)
    if batch_first not in (True, False) or bidirectional not in (True, False):
        return None
    hidden, layers = (v if type(v) is int else None for v in (get(1, "hidden_size"), get(2, "num_layers", 1)))
    projected = get(7, "proj_size", 0) if kind == "LSTM" else 0
    out = (projected or hidden) if type(projected) is int else None  # an LSTM may project h to proj_size
    directions = 2 if bidirectional else 1
    features = None if out is None else directions * out
    layers = None if layers is None else directions * layers
    if len(shape) == 2:  # one sequence, no batch
        output, state = (shape[0], features), (layers,)
    else:
        length, batch = (shape[1], shape[0]) if batch_first else (shape[0], shape[1])
        output = (batch, length, features) if batch_first else (length, batch, features)
        state = (layers, batch)
    if kind == "LSTM":
        return [output, [(*state, out), (*state, hidden)]]
    return [output, (*state, out)]
