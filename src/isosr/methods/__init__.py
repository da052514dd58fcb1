"""Super-resolution methods. Importing this package imports no implementation (and no
PyTorch): ``create_method`` loads a method's module when a job runs it."""

from isosr.methods.registry import MethodSpec, create_method, method_names, method_spec

__all__ = ["MethodSpec", "create_method", "method_names", "method_spec"]
