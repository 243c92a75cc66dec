"""The argument templates the probe (probe.py) tries for each torch op, and the ops it skips.

Pure data: which expressions call an op (`fn(a, dim=-1)`), which constructor and
call measure a module, and which names are not ops worth measuring. Operand names
(`a`, `m`, `img`, ...) are the kinds probe.py makes (probe.Kind).
"""

from __future__ import annotations

# Tried in order for every function and method that has no override; the
# first that runs wins. `fn` is the op (an unbound method for Tensor methods).
GENERIC_TEMPLATES = [
    "fn(a)", "fn(a, b)", "fn(a, -1)", "fn(a, dim=-1)", "fn(a, 0)", "fn(a, 1)",
    "fn(a, b, c)", "fn(a, m)", "fn(m)", "fn(m, n)", "fn(spd)", "fn(spd, m)",
    "fn(a, 0, 1)", "fn(a, 1, 0, 2)", "fn(a, 3, 2)", "fn(a, (3, 2))",
    "fn(v)", "fn(v, w)", "fn(bm)", "fn(bm, bn)", "fn(bm, bn, bo)",
    "fn([a, b])", "fn([a, b], 0)", "fn(s)", "fn(p)", "fn(p, q)", "fn(pos)", "fn(pos, 1)",
    "fn(mask)", "fn(mask, flag)", "fn(ix)", "fn(idx)",
    "fn(seq)", "fn(seq, 2)", "fn(img)", "fn(img, 2)", "fn(vol)", "fn(vol, 2)",
    # factories: no tensor operand, recorded so that their results are known to be off the graph
    "fn(3)", "fn(2, 3)", "fn((2, 3), 0.5)", "fn(0.0, 1.0, 3)",
]

SCALAR_TEMPLATE = "fn(a, 2)"

# By short name, whichever namespace the op lives in. Several entries are
# there because the namespaces order arguments differently.
OVERRIDES: dict[str, list[str]] = {
    "__getitem__": ["fn(a, slice(0, 1))"],
    "__setitem__": ["fn(a, 0, v)"],
    "__matmul__": ["fn(a, m)"],
    "__rmatmul__": ["fn(a, n)"],
    **{name: ["fn(a, dim=-1)"] for name in ("softmax", "log_softmax", "softmin")},
    "expand": ["fn(v, 2, 3)"],
    "expand_as": ["fn(v, a)"],
    "broadcast_to": ["fn(v, (2, 3))"],
    "permute": ["fn(a, 1, 0)", "fn(a, (1, 0))"],
    "view": ["fn(a, 3, 2)"],
    "reshape": ["fn(a, 3, 2)", "fn(a, (3, 2))"],
    "view_as": ["fn(a, c.reshape(3, 2))"],
    "reshape_as": ["fn(a, c.reshape(3, 2))"],
    "as_strided": ["fn(a, (3, 2), (1, 3))"],
    "narrow": ["fn(a, 1, 0, 2)"],
    "select": ["fn(a, 0, 1)"],
    "gather": ["fn(a, 1, idx)"],
    "take_along_dim": ["fn(a, idx, 1)"],
    "scatter": ["fn(a, 1, idx, b)"],
    "scatter_": ["fn(a, 1, idx, b)"],
    "scatter_add": ["fn(a, 1, idx, b)"],
    "scatter_add_": ["fn(a, 1, idx, b)"],
    "scatter_reduce": ["fn(a, 1, idx, b, 'sum')"],
    "scatter_reduce_": ["fn(a, 1, idx, b, 'sum')"],
    "index_select": ["fn(a, 0, ix)"],
    "index_add": ["fn(a, 0, ix, b)"],
    "index_add_": ["fn(a, 0, ix, b)"],
    "index_copy": ["fn(a, 0, ix, b)"],
    "index_copy_": ["fn(a, 0, ix, b)"],
    "index_fill": ["fn(a, 1, ix, 0.5)"],
    "index_fill_": ["fn(a, 1, ix, 0.5)"],
    "masked_fill": ["fn(a, mask, 0.5)"],
    "masked_fill_": ["fn(a, mask, 0.5)"],
    "masked_select": ["fn(a, mask)"],
    "masked_scatter": ["fn(a, mask, b)"],
    "masked_scatter_": ["fn(a, mask, b)"],
    "where": ["fn(mask, a, b)", "fn(a, mask, b)"],
    "matmul": ["fn(a, m)"],
    "mm": ["fn(a, m)"],
    "addmm": ["fn(a, b, m)"],
    "addmm_": ["fn(a, b, m)"],
    "addmv": ["fn(v, m, w)"],
    "addmv_": ["fn(v, m, w)"],
    "addr": ["fn(m, v, w)"],
    "addr_": ["fn(m, v, w)"],
    "mv": ["fn(m, v)"],
    "addbmm": ["fn(m, bm, bn)"],
    "addbmm_": ["fn(m, bm, bn)"],
    "cross": ["fn(a, b, dim=1)"],
    "einsum": ["fn('ij,jk->ik', a, m)"],
    "meshgrid": ["fn(v, w, indexing='ij')"],
    "split": ["fn(a, 1)"],
    "chunk": ["fn(a, 2)"],
    "tensor_split": ["fn(a, 2)"],
    "unflatten": ["fn(a, 1, (3, 1))"],
    "unfold": ["fn(a, 1, 2, 1)", "fn(img, 2)"],
    "repeat": ["fn(a, 2, 1)"],
    "tile": ["fn(a, (2, 1))"],
    "repeat_interleave": ["fn(a, 2)"],
    "roll": ["fn(a, 1, 1)"],
    "flip": ["fn(a, (0,))"],
    "clamp": ["fn(a, -0.5, 0.5)"],
    "clamp_": ["fn(a, -0.5, 0.5)"],
    "clip": ["fn(a, -0.5, 0.5)"],
    "clip_": ["fn(a, -0.5, 0.5)"],
    "clamp_min": ["fn(a, 0.1)"],
    "clamp_min_": ["fn(a, 0.1)"],
    "clamp_max": ["fn(a, 0.1)"],
    "clamp_max_": ["fn(a, 0.1)"],
    "kthvalue": ["fn(a, 1)"],
    "topk": ["fn(a, 2)"],
    "polygamma": ["fn(1, a)", "fn(a, 1)"],
    "mvlgamma": ["fn(pos, 1)"],
    "to": ["fn(a, torch.float64)"],
    "type": ["fn(a, torch.float64)"],
    "fill_": ["fn(a, 0.5)"],
    "fill": ["fn(a, 0.5)"],
    "new_full": ["fn(a, (2, 3), 0.5)"],
    "full_like": ["fn(a, 0.5)"],
    "threshold": ["fn(a, 0.1, 0.0)"],
    "threshold_": ["fn(a, 0.1, 0.0)"],
    "dropout": ["fn(a, 0.5, True)", "fn(a)"],
    "dropout_": ["fn(a, 0.5, True)"],
    "alpha_dropout": ["fn(a, 0.5, True)", "fn(a)"],
    "feature_dropout": ["fn(img, 0.5, True)"],
    "feature_alpha_dropout": ["fn(img, 0.5, True)", "fn(img)"],
    "prelu": ["fn(a, one)"],
    "linear": ["fn(a, m, v)"],
    "bilinear": ["fn(a, b, bm, bias)"],
    "conv1d": ["fn(seq, k1, bias)"],
    "conv2d": ["fn(img, k2, bias)"],
    "conv3d": ["fn(vol, k3, bias)"],
    "conv_transpose1d": ["fn(seq, k1, bias)"],
    "conv_transpose2d": ["fn(img, k2, bias)"],
    "conv_transpose3d": ["fn(vol, k3, bias)"],
    "embedding": ["fn(ix, m)", "fn(m, ix)"],
    "embedding_bag": ["fn(idx, m)"],
    "one_hot": ["fn(ix)"],
    "layer_norm": ["fn(a, (3,), v, w)"],
    "rms_norm": ["fn(a, (3,), v)"],
    "group_norm": ["fn(img, 1, g2, bias)"],
    "instance_norm": ["fn(img, weight=g2, bias=bias)", "fn(img, g2, bias, None, None, True, 0.1, 1e-05, False)"],
    "take": ["fn(a, idx)"],
    "put": ["fn(a, idx, b)"],
    "put_": ["fn(a, idx, b)"],
    "index_put": ["fn(a, (ix,), v)"],
    "index_put_": ["fn(a, (ix,), v)"],
    "index_reduce": ["fn(a, 0, ix, b, 'prod')"],
    "index_reduce_": ["fn(a, 0, ix, b, 'prod')"],
    "select_scatter": ["fn(a, v, 0, 0)"],
    "diagonal_scatter": ["fn(m, v)"],
    "split_with_sizes": ["fn(a, [1, 2], 1)"],
    "unsafe_split_with_sizes": ["fn(a, [1, 2], 1)"],
    "nonzero_static": ["fn(a, size=2)"],
    "view_as_complex": ["fn(x4.reshape(4, 2))"],
    "batch_norm": [
        "fn(img, rm, rv, g2, bias, training=True)",  # torch.nn.functional order
        "fn(img, g2, bias, rm, rv, True, 0.1, 1e-05, False)",  # torch.batch_norm order
    ],
    "local_response_norm": ["fn(img, 2)"],
    **{f"{pool}{d}d{suffix}": [f"fn({operand}, {size})"]
       for pool, size in (("max_pool", 2), ("avg_pool", 2), ("adaptive_avg_pool", 1), ("adaptive_max_pool", 1))
       for d, operand in ((1, "seq"), (2, "img"), (3, "vol"))
       for suffix in ("", "_with_indices")},
    **{name: ["fn(spd)"] for name in ("logdet", "slogdet", "det", "cholesky", "inverse", "pinverse", "matrix_exp")},
    # feature dropout drops whole channels: a small p keeps some, so the gradient is not all zero by chance
    **{name: ["fn(img, 0.1, True)", "fn(img, 0.1)"]
       for name in ("feature_dropout", "feature_alpha_dropout", "dropout1d", "dropout2d", "dropout3d")},
    "dropout1d": ["fn(seq, 0.1)"],
    "dropout3d": ["fn(vol, 0.1)"],
    "lp_pool1d": ["fn(seq, 2, 2)"],
    "lp_pool2d": ["fn(img, 2, 2)"],
    "lp_pool3d": ["fn(vol, 2, 2)"],
    "fractional_max_pool2d": ["fn(img, 2, output_size=2)"],
    "fractional_max_pool3d": ["fn(vol, 2, output_size=2)"],
    "interpolate": ["fn(img, scale_factor=2)"],
    "upsample": ["fn(img, scale_factor=2)"],
    "upsample_nearest": ["fn(img, scale_factor=2)"],
    "upsample_bilinear": ["fn(img, scale_factor=2)"],
    "grid_sample": ["fn(img, grid, align_corners=False)"],
    "affine_grid": ["fn(theta, (1, 2, 4, 4), align_corners=False)"],
    "pad": ["fn(a, (1, 1))"],
    "pixel_shuffle": ["fn(img4, 2)"],
    "fold": ["fn(fin, (3, 3), 2)"],
    "scaled_dot_product_attention": ["fn(bm, bn, bo)"],
    **{name: ["fn(a, cls)"] for name in ("cross_entropy", "nll_loss", "multi_margin_loss")},
    "binary_cross_entropy": ["fn(p, q)"],
    "multilabel_margin_loss": ["fn(a, idx.flip(-1) - 1)"],  # targets [1, 0] then -1: not every class
    "gaussian_nll_loss": ["fn(a, b, pos)"],
    "margin_ranking_loss": ["fn(v, w, sgn)"],
    "hinge_embedding_loss": ["fn(v, sgn)"],
    "cosine_embedding_loss": ["fn(a, b, sgn2)"],
}

# Modules: (constructor, call). Not listed: `nn.Name()` with the generic calls.
MODULE_OVERRIDES: dict[str, tuple[str, str]] = {
    "Linear": ("nn.Linear(3, 3)", "mod(a)"),
    "LazyLinear": ("nn.LazyLinear(3)", "mod(a)"),
    "Bilinear": ("nn.Bilinear(3, 3, 2)", "mod(a, b)"),
    "Conv1d": ("nn.Conv1d(2, 2, 3)", "mod(seq)"),
    "Conv2d": ("nn.Conv2d(2, 2, 3)", "mod(img)"),
    "Conv3d": ("nn.Conv3d(2, 2, 3)", "mod(vol)"),
    "ConvTranspose1d": ("nn.ConvTranspose1d(2, 2, 3)", "mod(seq)"),
    "ConvTranspose2d": ("nn.ConvTranspose2d(2, 2, 3)", "mod(img)"),
    "ConvTranspose3d": ("nn.ConvTranspose3d(2, 2, 3)", "mod(vol)"),
    "LazyConv1d": ("nn.LazyConv1d(2, 3)", "mod(seq)"),
    "LazyConv2d": ("nn.LazyConv2d(2, 3)", "mod(img)"),
    "LazyConv3d": ("nn.LazyConv3d(2, 3)", "mod(vol)"),
    "LazyConvTranspose1d": ("nn.LazyConvTranspose1d(2, 3)", "mod(seq)"),
    "LazyConvTranspose2d": ("nn.LazyConvTranspose2d(2, 3)", "mod(img)"),
    "LazyConvTranspose3d": ("nn.LazyConvTranspose3d(2, 3)", "mod(vol)"),
    "BatchNorm1d": ("nn.BatchNorm1d(2)", "mod(seq)"),
    "BatchNorm2d": ("nn.BatchNorm2d(2)", "mod(img)"),
    "BatchNorm3d": ("nn.BatchNorm3d(2)", "mod(vol)"),
    "LazyBatchNorm1d": ("nn.LazyBatchNorm1d()", "mod(seq)"),
    "LazyBatchNorm2d": ("nn.LazyBatchNorm2d()", "mod(img)"),
    "LazyBatchNorm3d": ("nn.LazyBatchNorm3d()", "mod(vol)"),
    "InstanceNorm1d": ("nn.InstanceNorm1d(2)", "mod(seq)"),
    "InstanceNorm2d": ("nn.InstanceNorm2d(2)", "mod(img)"),
    "InstanceNorm3d": ("nn.InstanceNorm3d(2)", "mod(vol)"),
    "LazyInstanceNorm1d": ("nn.LazyInstanceNorm1d()", "mod(seq)"),
    "LazyInstanceNorm2d": ("nn.LazyInstanceNorm2d()", "mod(img)"),
    "LazyInstanceNorm3d": ("nn.LazyInstanceNorm3d()", "mod(vol)"),
    "LayerNorm": ("nn.LayerNorm(3)", "mod(a)"),
    "RMSNorm": ("nn.RMSNorm(3)", "mod(a)"),
    "GroupNorm": ("nn.GroupNorm(1, 2)", "mod(img)"),
    "LocalResponseNorm": ("nn.LocalResponseNorm(2)", "mod(img)"),
    "CrossMapLRN2d": ("nn.CrossMapLRN2d(2)", "mod(img)"),
    "Embedding": ("nn.Embedding(3, 3)", "mod(ix)"),
    "EmbeddingBag": ("nn.EmbeddingBag(3, 3)", "mod(idx)"),
    "RNN": ("nn.RNN(3, 3)", "mod(a)"),
    "LSTM": ("nn.LSTM(3, 3)", "mod(a)"),
    "GRU": ("nn.GRU(3, 3)", "mod(a)"),
    "RNNCell": ("nn.RNNCell(3, 3)", "mod(a)"),
    "LSTMCell": ("nn.LSTMCell(3, 3)", "mod(a)"),
    "GRUCell": ("nn.GRUCell(3, 3)", "mod(a)"),
    "MultiheadAttention": ("nn.MultiheadAttention(4, 2)", "mod(x4, y4, z4)"),
    "TransformerEncoderLayer": ("nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0)", "mod(x4)"),
    "TransformerDecoderLayer": ("nn.TransformerDecoderLayer(4, 2, 8, dropout=0.0)", "mod(x4, y4)"),
    "TransformerEncoder": (
        "nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0), 1, enable_nested_tensor=False)",
        "mod(x4)",
    ),
    "TransformerDecoder": ("nn.TransformerDecoder(nn.TransformerDecoderLayer(4, 2, 8, dropout=0.0), 1)", "mod(x4, y4)"),
    "Transformer": ("nn.Transformer(4, 2, 1, 1, 8, dropout=0.0)", "mod(x4, y4)"),
    "MaxPool1d": ("nn.MaxPool1d(2)", "mod(seq)"),
    "MaxPool2d": ("nn.MaxPool2d(2)", "mod(img)"),
    "MaxPool3d": ("nn.MaxPool3d(2)", "mod(vol)"),
    "AvgPool1d": ("nn.AvgPool1d(2)", "mod(seq)"),
    "AvgPool2d": ("nn.AvgPool2d(2)", "mod(img)"),
    "AvgPool3d": ("nn.AvgPool3d(2)", "mod(vol)"),
    "AdaptiveAvgPool1d": ("nn.AdaptiveAvgPool1d(1)", "mod(seq)"),
    "AdaptiveAvgPool2d": ("nn.AdaptiveAvgPool2d(1)", "mod(img)"),
    "AdaptiveAvgPool3d": ("nn.AdaptiveAvgPool3d(1)", "mod(vol)"),
    "AdaptiveMaxPool1d": ("nn.AdaptiveMaxPool1d(1)", "mod(seq)"),
    "AdaptiveMaxPool2d": ("nn.AdaptiveMaxPool2d(1)", "mod(img)"),
    "AdaptiveMaxPool3d": ("nn.AdaptiveMaxPool3d(1)", "mod(vol)"),
    "LPPool1d": ("nn.LPPool1d(2, 2)", "mod(seq)"),
    "LPPool2d": ("nn.LPPool2d(2, 2)", "mod(img)"),
    "LPPool3d": ("nn.LPPool3d(2, 2)", "mod(vol)"),
    "FractionalMaxPool2d": ("nn.FractionalMaxPool2d(2, output_size=2)", "mod(img)"),
    "FractionalMaxPool3d": ("nn.FractionalMaxPool3d(2, output_size=2)", "mod(vol)"),
    "Upsample": ("nn.Upsample(scale_factor=2)", "mod(img)"),
    "UpsamplingNearest2d": ("nn.UpsamplingNearest2d(scale_factor=2)", "mod(img)"),
    "UpsamplingBilinear2d": ("nn.UpsamplingBilinear2d(scale_factor=2)", "mod(img)"),
    "PixelShuffle": ("nn.PixelShuffle(2)", "mod(img4)"),
    "PixelUnshuffle": ("nn.PixelUnshuffle(2)", "mod(img)"),
    "ChannelShuffle": ("nn.ChannelShuffle(2)", "mod(img)"),
    "Unfold": ("nn.Unfold(2)", "mod(img)"),
    "Fold": ("nn.Fold((3, 3), 2)", "mod(fin)"),
    "Unflatten": ("nn.Unflatten(1, (3, 1))", "mod(a)"),
    "Softmax": ("nn.Softmax(dim=-1)", "mod(a)"),
    "LogSoftmax": ("nn.LogSoftmax(dim=-1)", "mod(a)"),
    "Softmin": ("nn.Softmin(dim=-1)", "mod(a)"),
    "Threshold": ("nn.Threshold(0.1, 0.0)", "mod(a)"),
    **{f"{style}Pad{d}d": (f"nn.{style}Pad{d}d({'1, 0.5' if style == 'Constant' else '1'})", f"mod({operand})")
       for style in ("Zero", "Constant", "Reflection", "Replication", "Circular")
       for d, operand in ((1, "seq"), (2, "img"), (3, "vol"))},
    "CosineSimilarity": ("nn.CosineSimilarity()", "mod(a, b)"),
    "PairwiseDistance": ("nn.PairwiseDistance()", "mod(a, b)"),
    "CrossEntropyLoss": ("nn.CrossEntropyLoss()", "mod(a, cls)"),
    "NLLLoss": ("nn.NLLLoss()", "mod(a, cls)"),
    "MultiMarginLoss": ("nn.MultiMarginLoss()", "mod(a, cls)"),
    "BCELoss": ("nn.BCELoss()", "mod(p, q)"),
    "MultiLabelMarginLoss": ("nn.MultiLabelMarginLoss()", "mod(a, idx.flip(-1) - 1)"),
    "Dropout1d": ("nn.Dropout1d(0.1)", "mod(seq)"),
    "Dropout2d": ("nn.Dropout2d(0.1)", "mod(img)"),
    "Dropout3d": ("nn.Dropout3d(0.1)", "mod(vol)"),
    "FeatureAlphaDropout": ("nn.FeatureAlphaDropout(0.1)", "mod(img)"),
    "GaussianNLLLoss": ("nn.GaussianNLLLoss()", "mod(a, b, pos)"),
    "MarginRankingLoss": ("nn.MarginRankingLoss()", "mod(v, w, sgn)"),
    "HingeEmbeddingLoss": ("nn.HingeEmbeddingLoss()", "mod(v, sgn)"),
    "CosineEmbeddingLoss": ("nn.CosineEmbeddingLoss()", "mod(a, b, sgn2)"),
    "AdaptiveLogSoftmaxWithLoss": ("nn.AdaptiveLogSoftmaxWithLoss(3, 3, [2])", "mod(a, cls)"),
}
GENERIC_MODULE_CALLS = ["mod(a)", "mod(a, b)", "mod(img)", "mod(seq)", "mod(vol)", "mod(p, q)", "mod(a, b, c)"]

# The dunders that Python syntax calls; underscore names are otherwise skipped.
OPERATOR_DUNDERS = (
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __matmul__ __pow__ __rpow__ "
    "__neg__ __abs__ __getitem__ __lt__ __le__ __gt__ __ge__ __eq__ __ne__ __and__ __or__ __invert__"
).split()
INPLACE_DUNDERS = {"__iadd__": "__add__", "__isub__": "__sub__", "__imul__": "__mul__",
                   "__itruediv__": "__truediv__", "__setitem__": None}
TENSOR_PROPERTIES = ("T", "mT", "H", "mH", "data", "real", "imag")

# Not measured: they change global state, do I/O, need another device or
# layout, are random generators with no tensor input, or are not ops at all.
_SKIP_PREFIXES = (
    "set_", "get_", "cudnn_", "miopen_", "mkldnn_", "fbgemm_", "quantize", "q_", "sparse_", "sym_", "autocast_",
    "to_sparse", "is_", "import_ir", "parse_", "has_torch_function", "fake_quantize", "to_mkldnn", "rand",
)
_SKIP_NAMES = frozenset("""
    compile cond while_loop vmap fork wait load save from_file from_numpy frombuffer from_dlpack to_dlpack
    manual_seed seed initial_seed use_deterministic_algorithms are_deterministic_algorithms_enabled
    merge_type_from_type_comment unify_type_list prepare_multiprocessing_environment init_num_threads
    thread_safe_generator classproperty compiled_with_cxx11_abi clear_autocast_cache
    profiler_allow_cudagraph_cupti_lazy_reinit_cuda12 dequantize int_repr choose_qparams_optimized
    fused_moving_avg_obs_fake_quant dsmm hsmm smm spmm saddmm sspaddmm hspmm resize_as_sparse_ empty_quantized
    lobpcg pca_lowrank svd_lowrank bernoulli bernoulli_ multinomial normal normal_ poisson binomial
    cauchy_ exponential_ geometric_ log_normal_ uniform_ random_
    backward register_hook register_post_accumulate_grad_hook share_memory_ pin_memory record_stream
    set_ apply_ map_ map2_ module_load cuda cpu ipu xpu mtia storage untyped_storage storage_type data_ptr
    const_data_ptr indices values crow_indices col_indices ccol_indices row_indices coalesce sparse_mask
    sparse_resize_ sparse_resize_and_clear_ to_dense to_padded_tensor qscheme reinforce as_subclass
    handle_torch_function boolean_dispatch assert_int_or_pair Optional multi_head_attention_forward
    grouped_mm scaled_grouped_mm scaled_mm linear_cross_entropy ctc_loss
    Module Sequential ModuleList ModuleDict ParameterList ParameterDict Container SyncBatchNorm DataParallel
    RNNBase RNNCellBase NLLLoss2d resize_ resize_as_ as_strided_scatter as_strided_ bitwise_left_shift
    bitwise_right_shift bitwise_left_shift_ bitwise_right_shift_ gcd gcd_ lcm lcm_ MaxUnpool1d MaxUnpool2d MaxUnpool3d CTCLoss LinearCrossEntropyLoss
""".split())


def skipped(name: str) -> bool:
    return name in _SKIP_NAMES or name.startswith(_SKIP_PREFIXES) or name.endswith("_copy")
