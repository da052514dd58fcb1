"""One cap on every CPU thread pool of a process: OpenMP, MKL, OpenBLAS, ITK and PyTorch.

A job given ``threads: n`` must keep at most n threads busy: OpenMP threads that share cores
with other jobs spin-wait and slow a PyTorch training down up to tenfold. Each pool is sized
once, when its library starts, so the cap is set before NumPy, PyTorch or antspyx is imported.

Imported in a Snakemake script job (the first isosr import of each ``workflow/scripts/*.py``),
this module caps the job at its ``snakemake.threads`` at once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType

POOL_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                  "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
ITK_THREADS = "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"


def limit_threads(n: int) -> None:
    """Cap the thread pools of this process, and of the processes it starts, at ``n``.

    Call it before NumPy or antspyx is imported: their pools read the variables once, and one
    started before keeps its size. PyTorch is capped now if it is imported, else right after its
    import, before its first op. ITK keeps isosr's single thread (repeatable registrations)
    unless a larger value was exported.
    """
    if n < 1:
        raise ValueError(f"threads must be at least 1, not {n}")
    for name in POOL_VARIABLES:
        os.environ[name] = str(n)
    os.environ[ITK_THREADS] = str(min(n, int(os.environ.get(ITK_THREADS, n))))
    torch = sys.modules.get("torch")
    if torch is not None:
        limit_torch(torch, n)
        return
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AfterTorchImport)]
    sys.meta_path.insert(0, _AfterTorchImport(n))


def limit_torch(torch: ModuleType, n: int) -> None:
    """Cap PyTorch's intra-op and inter-op pools at ``n`` threads (the inter-op pool can only be
    resized before its first parallel work)."""
    torch.set_num_threads(n)
    if torch.get_num_interop_threads() != n:
        torch.set_num_interop_threads(n)


class _AfterTorchImport(MetaPathFinder):
    """Finds ``torch`` where the import system would (sys.path), and caps its pools once its
    import has run."""

    def __init__(self, n: int) -> None:
        self.n = n

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name != "torch":
            return None
        spec = PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            run_import = spec.loader.exec_module

            def exec_module(module: ModuleType) -> None:
                run_import(module)
                limit_torch(module, self.n)

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _snakemake_job_threads() -> int | None:
    """The ``threads`` of the Snakemake script job this process runs (Snakemake injects a
    ``snakemake`` object into the script, the ``__main__`` module), or None."""
    threads = getattr(getattr(sys.modules.get("__main__"), "snakemake", None), "threads", None)
    return threads if isinstance(threads, int) else None


if (_job_threads := _snakemake_job_threads()) is not None:
    limit_threads(_job_threads)
