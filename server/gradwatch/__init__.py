"""gradwatch: finds PyTorch autograd hazards without running the code."""

__version__ = "0.1.0"
