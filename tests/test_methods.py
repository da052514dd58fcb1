"""Method registry and the interpolation baselines."""

import numpy as np
import pytest

from isosr.io import Grid, InputError, LRImage
from isosr.methods import create_method, method_names


def test_registry_lists_baselines_and_rejects_unknown_names_and_parameters():
    assert {"cubic", "nearest"} <= set(method_names())
    with pytest.raises(InputError, match="unknown method 'cubci'"):
        create_method("cubci")
    with pytest.raises(InputError, match="methods.cubic: no hyper-parameter.*order"):
        create_method("cubic", {"order": 1})


def test_cubic_is_exact_on_smooth_data_where_nearest_is_not():
    hr_affine = np.eye(4)
    z = np.arange(40, dtype=np.float64)
    truth = np.broadcast_to(np.sin(z / 6.0), (6, 6, 40))
    lr_affine = np.diag([1.0, 1.0, 4.0, 1.0])
    lr_affine[2, 3] = 1.5
    lr = np.broadcast_to(np.sin((1.5 + 4.0 * np.arange(10)) / 6.0), (6, 6, 10)).astype(np.float32)
    grid = Grid((6, 6, 40), hr_affine)
    images = {"T1w": LRImage(lr, lr_affine, "axial", 4.0)}
    cubic = create_method("cubic").fit_predict(images, grid).images["T1w"]
    nearest = create_method("nearest").fit_predict(images, grid).images["T1w"]
    inner = slice(10, 30)  # away from the spline boundary extension
    cubic_error = np.abs(cubic[3, 3, inner] - truth[3, 3, inner]).max()
    nearest_error = np.abs(nearest[3, 3, inner] - truth[3, 3, inner]).max()
    assert cubic_error < 0.01
    assert nearest_error > 0.2


def test_readme_parameter_tables_are_generated_from_the_dataclasses():
    from conftest import REPO

    from isosr.methods.docs import BLOCK, render

    readme = (REPO / "README.md").read_text()
    assert {m.group("method") for m in BLOCK.finditer(readme)} >= {"inr-splithead", "arssr",
                                                                   "dual-arbnet"}
    assert render(readme) == readme, "run: python -m isosr.methods.docs README.md"


def test_every_declared_method_loads_as_its_kind_with_an_existing_env():
    from conftest import REPO

    from isosr.methods import method_names, method_spec
    from isosr.methods.base import CohortMethod, SubjectMethod

    for name in method_names():
        spec = method_spec(name)
        cls = spec.load()
        assert issubclass(cls, SubjectMethod if spec.kind == "subject" else CohortMethod), name
        assert (REPO / spec.env).is_file(), spec.env
        spec.make_params({})  # the paper defaults are valid


def test_method_declarations_import_one_way_spec_catalog_registry():
    """spec <- catalog <- registry: neither the spec nor the catalog imports the registry (no
    cycle), and the catalog imports first in a fresh interpreter without PyTorch."""
    import ast
    import subprocess
    import sys

    from conftest import REPO

    def imported(module: str) -> set[str]:
        tree = ast.parse((REPO / "src/isosr/methods" / f"{module}.py").read_text())
        return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
            for alias in node.names}

    assert not imported("spec") & {"isosr.methods.catalog", "isosr.methods.registry"}
    assert "isosr.methods.registry" not in imported("catalog")
    assert "isosr.methods.catalog" in imported("registry")
    check = ("import sys, isosr.methods.catalog as c; assert c.SPECS; "
             "assert 'torch' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", check]).returncode == 0
