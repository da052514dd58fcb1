"""Super-resolution methods; importing this package registers all of them."""

from isosr.methods import eclare, inr, interpolation, lrtv  # noqa: F401  (registers the methods)
from isosr.methods.registry import create_method, method_class, method_names

__all__ = ["create_method", "method_class", "method_names"]
