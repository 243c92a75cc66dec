# source: https://github.com/DFKI-NLP/thermostat/issues/5
# hazard: grad-not-required
# cause: 27, 62
# expect: RuntimeError: One of the differentiated Tensors does not require grad
import warnings

import torch
import torch.nn as nn


def apply_gradient_requirements(inputs):
    grad_required = []
    for index, inp in enumerate(inputs):
        grad_required.append(inp.requires_grad)
        if not inp.requires_grad:
            if inp.dtype.is_floating_point or inp.dtype.is_complex:
                inp.requires_grad_()
            else:
                warnings.warn(f"Input Tensor {index} has a dtype of {inp.dtype}; gradients are not set")
    return grad_required


def compute_gradients(forward_fn, inputs, target_ind, additional_forward_args):
    with torch.autograd.set_grad_enabled(True):
        outputs = forward_fn(*inputs, *additional_forward_args)
        outputs = outputs[torch.arange(outputs.shape[0]), target_ind]
        grads = torch.autograd.grad(torch.unbind(outputs), inputs)
    return grads


class InputXGradient:
    def __init__(self, forward_func):
        self.forward_func = forward_func

    def attribute(self, inputs, target, additional_forward_args=()):
        inputs = (inputs,)
        apply_gradient_requirements(inputs)
        gradients = compute_gradients(self.forward_func, inputs, target, additional_forward_args)
        return tuple(inp * grad for inp, grad in zip(inputs, gradients))


class TinyDistilBert(nn.Module):
    def __init__(self, vocab=50, dim=8, labels=2):
        super().__init__()
        self.embeddings = nn.Embedding(vocab, dim)
        self.layer = nn.Linear(dim, dim)
        self.classifier = nn.Linear(dim, labels)

    def forward(self, input_ids, attention_mask):
        hidden = torch.tanh(self.layer(self.embeddings(input_ids)))
        hidden = hidden * attention_mask.unsqueeze(-1)
        return self.classifier(hidden[:, 0])


torch.manual_seed(0)
model = TinyDistilBert()
explainer = InputXGradient(model)
input_ids = torch.randint(0, 50, (2, 6))
attention_mask = torch.ones(2, 6)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    explainer.attribute(input_ids, target=torch.tensor([0, 1]), additional_forward_args=(attention_mask,))
