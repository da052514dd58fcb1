"""The conda envs of the rules, checked statically (conda cannot run on the CI machines).

Every rule that runs code names an env under envs/; every env parses, uses conda-forge only,
pins every package, agrees with pyproject.toml's pins, and provides every third-party package that
its rules' scripts import (followed through isosr's own modules). Each env's post-deploy script
installs isosr from the source tree; that path is exercised in a fresh virtual environment.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import venv
from collections.abc import Iterator
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import tomllib
import yaml
from conftest import REPO
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ENVS = REPO / "envs"
DRIVER_ENV = ENVS / "workflow.yaml"  # runs Snakemake itself, not a rule
# envs of external tools (not isosr): their pins follow the tool, they do not install isosr
TOOL_ENVS = [ENVS / "eclare.yaml"]
RULE_ENVS = sorted(set(ENVS.glob("*.yaml")) - {DRIVER_ENV, *TOOL_ENVS})
CONDA_PIN = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._-]*)=(?P<version>[0-9][0-9a-z.]*)$")
PIP_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[0-9][0-9a-z.]*)$")
# conda-forge names that differ from the PyPI distribution they provide
CONDA_TO_PYPI = {"pytorch": "torch", "matplotlib-base": "matplotlib"}

# Runs in a subprocess: Snakemake's API parses the workflow (changing the working directory).
RULES_DUMP = """
import json, os, sys
from pathlib import Path
from types import SimpleNamespace
from snakemake.api import SnakemakeApi
from isosr.methods import method_names
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

snakefile, configfile = map(Path, sys.argv[1:3])
with SnakemakeApi(OutputSettings(quiet=True)) as api:
    workflow = api.workflow(resource_settings=ResourceSettings(),
                            config_settings=ConfigSettings(configfiles=[configfile]),
                            snakefile=snakefile, workdir=Path.cwd())._workflow  # no public list
def envs(rule):  # a per-method env (a function of the method): every method's
    if not rule.conda_env:
        return []
    found = ([rule.conda_env(SimpleNamespace(method=m)) for m in method_names()]
             if callable(rule.conda_env) else [rule.conda_env])
    return sorted({str(Path(rule.snakefile).parent / env) for env in found})
rules = [{"name": rule.name, "runs_code": not rule.norun, "is_run": rule.is_run,
          "script": str(Path(rule.snakefile).parent / rule.script) if rule.script else None,
          "conda": envs(rule)} for rule in workflow.rules]
print(json.dumps({"rules": rules, "source_dir": os.environ.get("ISOSR_SOURCE_DIR")}))
"""


@pytest.fixture(scope="module")
def workflow_rules(tmp_path_factory: pytest.TempPathFactory) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", RULES_DUMP, str(REPO / "Snakefile"), str(REPO / "config.yaml")],
        cwd=tmp_path_factory.mktemp("rules"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@cache
def load_env(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def env_packages(path: Path) -> dict[str, str]:
    """PyPI distribution name -> pinned version, of the conda and pip packages of an env."""
    packages = {}
    for entry in load_env(path)["dependencies"]:
        if isinstance(entry, dict):
            for spec in entry["pip"]:
                match = PIP_PIN.match(spec)
                packages[canonicalize_name(match["name"])] = match["version"]
        else:
            match = CONDA_PIN.match(entry)
            name = CONDA_TO_PYPI.get(match["name"], match["name"])
            packages[canonicalize_name(name)] = match["version"]
    return packages


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def isosr_module_file(module: str) -> Path | None:
    """The source file of an isosr module (package __init__ or module file), if it exists."""
    base = REPO / "src" / Path(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def import_time_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a module that run when it is imported (function bodies do not)."""
    for node in ast.iter_child_nodes(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield node
            yield from import_time_nodes(node)


@cache
def _installed_modules() -> dict[str, list[str]]:
    """Top-level module -> the installed distributions providing it (a scan of site-packages)."""
    return packages_distributions()


@cache
def third_party_imports(script: Path) -> dict[str, Path]:
    """Top-level third-party modules that importing ``script`` imports, following isosr's own
    modules, each with the file that imports it. Imports inside functions are deliberate lazy
    imports of optional back-ends (deepbet, ANTs); the env of a rule using one lists it."""
    found: dict[str, Path] = {}
    seen: set[Path] = set()
    pending = [script]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in import_time_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top == "isosr":
                    parts = module.split(".")
                    # importing a.b.c runs a/__init__, a/b/__init__ and a/b/c
                    pending += [f for i in range(1, len(parts) + 1)
                                if (f := isosr_module_file(".".join(parts[:i])))]
                elif top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, path)
    return found


@cache
def distribution_of(module: str) -> str:
    """The installed PyPI distribution that provides top-level ``module``."""
    distributions = _installed_modules().get(module)
    assert distributions, f"no installed distribution provides module {module!r}"
    return canonicalize_name(distributions[0])


def test_every_rule_that_runs_code_names_a_rule_env(workflow_rules):
    runs_code = [rule for rule in workflow_rules["rules"] if rule["runs_code"]]
    assert len(runs_code) >= 8
    for rule in runs_code:
        assert not rule["is_run"], f"rule {rule['name']}: run: blocks cannot use conda envs"
        assert rule["conda"], f"rule {rule['name']} has no conda: directive"
        for env in rule["conda"]:
            assert Path(env).resolve() in RULE_ENVS + TOOL_ENVS, (rule["name"], env)


def test_every_rule_env_is_used_and_the_workflow_names_its_source(workflow_rules):
    used = {Path(env).resolve() for rule in workflow_rules["rules"] for env in rule["conda"]}
    assert used == set(RULE_ENVS + TOOL_ENVS)
    assert workflow_rules["source_dir"] == str(REPO)


@pytest.mark.parametrize("path", [*RULE_ENVS, *TOOL_ENVS, DRIVER_ENV], ids=lambda p: p.name)
def test_env_file_parses_uses_conda_forge_and_pins_everything(path):
    env = load_env(path)
    assert set(env) == {"channels", "dependencies"}, f"{path.name}: unexpected keys {set(env)}"
    assert env["channels"] == ["conda-forge", "nodefaults"], path.name
    conda = [entry for entry in env["dependencies"] if isinstance(entry, str)]
    pip = [entry for entry in env["dependencies"] if isinstance(entry, dict)]
    for entry in conda:
        assert CONDA_PIN.match(entry), f"{path.name}: {entry!r} is not pinned as name=version"
    names = [CONDA_PIN.match(entry)["name"] for entry in conda]
    assert names[0] == "python" and len(set(names)) == len(names), path.name
    if pip:
        assert "pip" in names, f"{path.name}: a pip section needs pip among the conda packages"
        assert len(pip) == 1 and set(pip[0]) == {"pip"}, path.name
    if path in RULE_ENVS:
        assert "setuptools" in names, f"{path.name}: the post-deploy install needs setuptools"
    if path != DRIVER_ENV:
        for spec in (pip[0]["pip"] if pip else []):
            assert PIP_PIN.match(spec), f"{path.name}: pip entry {spec!r} is not name==version"


def test_the_driver_env_installs_the_package_from_the_repository():
    # conda runs pip in the env file's directory, so ".." is the repository root
    (pip,) = [entry["pip"] for entry in load_env(DRIVER_ENV)["dependencies"]
              if isinstance(entry, dict)]
    assert pip == ["--editable .."]
    assert (DRIVER_ENV.parent / ".." / "pyproject.toml").resolve() == REPO / "pyproject.toml"


@pytest.mark.parametrize("path", RULE_ENVS, ids=lambda p: p.name)
def test_env_pins_agree_with_pyproject(path):
    project = pyproject()["project"]
    python = Version(load_env(path)["dependencies"][0].split("=")[1])
    assert Requirement(f"python{project['requires-python']}").specifier.contains(python)
    requirements = {canonicalize_name(r.name): r
                    for r in map(Requirement, project["dependencies"])}
    checked = 0
    for name, version in env_packages(path).items():
        if name in requirements:
            checked += 1
            specifier = requirements[name].specifier
            assert specifier.contains(Version(version)), (
                f"{path.name}: {name} {version} violates pyproject.toml's {name}{specifier}")
    assert checked >= 2, f"{path.name} shares too few packages with pyproject.toml to check"


def test_exact_pins_of_pyproject_are_the_env_pins():
    exact = {canonicalize_name(r.name): str(r.specifier)[2:]
             for r in map(Requirement, pyproject()["project"]["dependencies"])
             if str(r.specifier).startswith("==")}
    assert {"torch", "antspyx", "deepbet"} <= set(exact)
    pinned = {}
    for path in RULE_ENVS:
        for name, version in env_packages(path).items():
            pinned.setdefault(name, set()).add(version)
    for name, versions in pinned.items():
        assert len(versions) == 1, f"{name} is pinned to several versions: {sorted(versions)}"
    for name in {"torch", "antspyx", "deepbet", "nilearn"}:
        assert name in pinned, f"no env provides {name}"
    for name, version in exact.items():
        if name in pinned:
            assert pinned[name] == {version}, f"{name}: envs {pinned[name]}, pyproject {version}"


def test_each_env_provides_what_its_rules_scripts_import(workflow_rules):
    for rule in workflow_rules["rules"]:
        if not rule["script"]:
            continue
        for env in rule["conda"]:
            available = set(env_packages(Path(env).resolve()))
            missing = {f"{distribution_of(module)} (imported by {path.relative_to(REPO)})"
                       for module, path in third_party_imports(Path(rule["script"])).items()
                       if distribution_of(module) not in available}
            assert not missing, (f"rule {rule['name']} needs {sorted(missing)}, which "
                                 f"{Path(env).name} lacks")


def test_post_deploy_script_installs_isosr_from_the_source_tree(tmp_path):
    script = ENVS / "install-isosr.sh"
    for path in RULE_ENVS:
        post_deploy = path.with_suffix(".post-deploy.sh")
        assert post_deploy.resolve() == script, f"{post_deploy.name} must link to {script.name}"
    # an env with only Python, pip and the envs' setuptools: a new conda env before its
    # post-deploy step; from then on no index may be used
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    setuptools = env_packages(RULE_ENVS[0])["setuptools"]
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
                    f"setuptools=={setuptools}"], check=True, timeout=300)
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                   "ISOSR_SOURCE_DIR": str(REPO), "PIP_NO_INDEX": "1"}
    environment.pop("PYTHONPATH", None)
    result = subprocess.run(["bash", str(script)], env=environment, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    where = subprocess.run(
        [str(bin_dir / "python"), "-c",
         "import importlib.util; print(importlib.util.find_spec('isosr').origin)"],
        env=environment, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip() == str(REPO / "src" / "isosr" / "__init__.py"), where.stderr
    without_source = {key: value for key, value in environment.items()
                      if key != "ISOSR_SOURCE_DIR"}
    result = subprocess.run(["bash", str(script)], env=without_source, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "ISOSR_SOURCE_DIR" in result.stderr
