"""What torch's error says, for the expectations of the whole-program cases."""

MODIFIED = "modified by an inplace operation"
NO_GRAPH = "does not require grad and does not have a grad_fn"
TWICE = "Trying to backward through the graph a second time"
INTEGER = "Tensors of floating point and complex dtype can require gradients"

