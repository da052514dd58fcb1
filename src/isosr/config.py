"""Semantic checks of a (schema-validated) workflow config, and the plan derived from it.

The JSON Schema catches typos and types; this module catches what a schema cannot: a scenario
that uses a contrast a dataset lacks, an unregistered method, a reference method not run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from isosr.clinical.sessions import Session, study_sessions
from isosr.data.embedded import EmbeddedOptions, subject_ids
from isosr.data.hdbet import checkpoint_file
from isosr.data.http import download_path, read_index, subjects_in_index
from isosr.data.layout import index_path
from isosr.data.sources import (
    PREPROCESSING_DEFAULTS,
    Source,
    local_scans,
    make_source,
    offered_contrasts,
    recommended,
    select_subjects,
)
from isosr.data.templates import DOWNLOADED_TEMPLATES, downloaded_template
from isosr.io import InputError
from isosr.methods import method_names, method_spec
from isosr.methods.contrast_params import check_parameter_contrasts
from isosr.paths import model_file
from isosr.repeats import repeat_suffixes

PRETRAINED = "pretrained"
STUDY_MODEL = "model"
DEFAULT_RESOLUTION_MM = 1.0
SHA256 = re.compile(r"[0-9a-f]{64}")
# Most jobs a config may create (estimated before the DAG is built, see Plan.job_count): beyond
# it Snakemake spends minutes to hours on the DAG alone, and such a run is a typo far more often
# than a plan; a larger benchmark is split into several configs.
MAX_JOBS = 200_000
JOBS_PER_FIT = 2  # the fit and its evaluation (which segments its prediction)


class ConfigError(ValueError):
    """A config that is well-formed but inconsistent; the message names the offending key."""


@dataclass(frozen=True)
class Plan:
    """What the workflow runs: datasets x scenarios x methods x subjects.

    ``await_index(dataset)`` is called before the subjects of a downloaded (http) dataset are
    read from its index; the workflow passes a Snakemake checkpoint there, so the download and
    indexing run first.

    The config is not changed once the plan is made: what the workflow asks for every job (a
    dataset's settings, a split, a method's kind) is computed once (``_memo``).
    """

    config: dict[str, Any]
    await_index: Callable[[str], object] | None = field(default=None, compare=False)
    _memo: dict[tuple[str, str], Any] = field(default_factory=dict, init=False, repr=False,
                                               compare=False)

    def __post_init__(self) -> None:
        self.check()

    @property
    def datasets(self) -> list[str]:
        """The benchmark datasets (with ground truth), sorted."""
        return sorted(d for d, spec in self.config["datasets"].items()
                      if spec.get("ground_truth", True))

    @property
    def studies(self) -> list[str]:
        """The studies without ground truth (``ground_truth: false``), sorted."""
        return sorted(d for d, spec in self.config["datasets"].items()
                      if not spec.get("ground_truth", True))

    @property
    def scenarios(self) -> list[str]:
        return sorted(self.config.get("scenarios") or {})

    @property
    def methods(self) -> list[str]:
        return list(self.config["methods"])

    @property
    def repeat_suffixes(self) -> list[str]:
        """Path suffixes of the ``repeats`` fits per method and subject ('' = repeat 0)."""
        return repeat_suffixes(self.config.get("repeats", 1))

    def _memoised(self, key: tuple[str, str], compute: Callable[[], Any]) -> Any:
        """``compute()``, once per ``key`` (an exception is raised again at the next call)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def dataset(self, name: str) -> dict[str, Any]:
        """The config of dataset ``name``, with its preset's preprocessing settings (e.g.
        BraTS: skullstrip none, template SRI24) where the config does not set them."""
        return dict(self._memoised(("dataset", name), lambda: {
            **PREPROCESSING_DEFAULTS, "resolution_mm": DEFAULT_RESOLUTION_MM,
            **recommended(self.source(name)), **self.config["datasets"][name]}))

    def study(self, name: str) -> dict[str, Any]:
        """The config of study ``name`` with its defaults (the output grid's resolution_mm is
        None where the config leaves it to each session's finest in-plane spacing)."""
        return {**PREPROCESSING_DEFAULTS, "resolution_mm": None, "reference_contrast": "T1w",
                "acquisition_model": "slice-profile", **self.config["datasets"][name]}

    def sessions(self, name: str) -> list[Session]:
        """The sessions of study ``name`` that have every contrast (computed once)."""
        return list(self._session_scans(name))

    def session_scans(self, name: str, session: Session) -> dict[str, Path]:
        """contrast -> acquired scan of one session of study ``name``."""
        return dict(self._session_scans(name)[session])

    def _session_scans(self, name: str) -> dict[Session, dict[str, Path]]:
        return self._memoised(("sessions", name),
                              lambda: study_sessions(name, self.study(name)))

    def study_model(self, method: str) -> str | None:
        """``methods.<m>.model``: the trained model a cohort method uses on a study."""
        return (self.config["methods"][method] or {}).get(STUDY_MODEL)

    def source(self, name: str) -> Source:
        return make_source(name, self.config["datasets"][name])

    def scenario_contrasts(self, scenario: str) -> list[str]:
        """The contrasts acquired in ``scenario``, sorted."""
        return sorted(self.config["scenarios"][scenario]["contrasts"])

    def acquisition(self, scenario: str, contrast: str) -> dict[str, Any]:
        return dict(self.config["scenarios"][scenario]["contrasts"][contrast])

    def method_params(self, method: str) -> dict[str, Any]:
        """The hyper-parameters of ``method`` (without ``pretrained``, which is not one), with
        the equal-compute mode's ``budget_seconds`` for every method that has that key."""
        values = dict(self.config["methods"][method] or {})
        values.pop(PRETRAINED, None)
        values.pop(STUDY_MODEL, None)
        budget = self.config.get("budget_seconds")
        names = {f.name for f in fields(method_spec(method).params)}
        if budget is not None and "budget_seconds" in names:
            values["budget_seconds"] = budget
        return values

    @property
    def metric_convention(self) -> str:
        """``metrics.convention``: isosr's definitions or mcginnis2023's (isosr.evaluate)."""
        return (self.config.get("metrics") or {}).get("convention", "isosr")

    def pretrained(self, method: str) -> dict[str, str] | None:
        """``{url, sha256}`` of the published model a cohort method uses instead of training."""
        return (self.config["methods"][method] or {}).get(PRETRAINED)

    def method_kind(self, method: str) -> str:
        return self._memoised(("method_kind", method), lambda: method_spec(method).kind)

    @property
    def cohort_methods(self) -> list[str]:
        return [m for m in self.methods if self.method_kind(m) == "cohort"]

    @property
    def trained_methods(self) -> list[str]:
        """Cohort methods trained here (the others fetch their published model)."""
        return [m for m in self.cohort_methods if self.pretrained(m) is None]

    @property
    def pretrained_methods(self) -> list[str]:
        return [m for m in self.cohort_methods if self.pretrained(m) is not None]

    def split(self, dataset: str) -> tuple[list[str], list[str]]:
        """(training, test) subjects of ``dataset`` from ``datasets.<d>.split``: explicit
        ``train``/``test`` lists (either may be left out: the rest), or a ``train_fraction`` of
        the subjects drawn with ``seed``. Without a split every subject is a test subject.
        Computed once, except for an http dataset (its subjects come from its index)."""
        if self.config["datasets"][dataset]["source"] == "http":
            return self._split(dataset)
        train, test = self._memoised(("split", dataset), lambda: self._split(dataset))
        return list(train), list(test)

    def _split(self, dataset: str) -> tuple[list[str], list[str]]:
        subjects = self.subjects(dataset)
        spec = self.dataset(dataset).get("split")
        key = f"datasets.{dataset}.split"
        if not spec:
            if self.trained_methods:
                raise ConfigError(f"{key}: cohort method(s) {self.trained_methods} need training "
                                  f"subjects; set train/test lists or a train_fraction")
            return [], subjects
        if "train_fraction" in spec:
            order = np.random.default_rng(spec.get("seed", 0)).permutation(len(subjects))
            count = min(max(round(spec["train_fraction"] * len(subjects)), 1), len(subjects) - 1)
            train = sorted(subjects[i] for i in order[:count])
            return train, [s for s in subjects if s not in train]
        for side in ("train", "test"):
            unknown = sorted(set(spec.get(side, [])) - set(subjects))
            if unknown:
                raise ConfigError(f"{key}.{side}: {unknown} are not subjects of dataset "
                                  f"{dataset!r} ({subjects})")
        train = spec.get("train") or [s for s in subjects if s not in spec.get("test", [])]
        test = spec.get("test") or [s for s in subjects if s not in train]
        overlap = sorted(set(train) & set(test))
        if overlap:
            raise ConfigError(f"{key}: {overlap} are both training and test subjects")
        if not train or not test:
            raise ConfigError(f"{key}: needs at least one training and one test subject "
                              f"(train {sorted(train)}, test {sorted(test)})")
        return sorted(train), sorted(test)

    def train_subjects(self, dataset: str) -> list[str]:
        """The subjects cohort methods train on (never evaluated)."""
        return self.split(dataset)[0]

    def test_subjects(self, dataset: str) -> list[str]:
        """The subjects every method is evaluated on, so every table compares like with like."""
        return self.split(dataset)[1]

    def embedded_options(self, dataset: str) -> EmbeddedOptions:
        return EmbeddedOptions(**self.dataset(dataset).get("embedded", {}))

    def subjects(self, dataset: str) -> list[str]:
        """Subject labels of ``dataset`` (without the 'sub-' prefix), after ``subjects`` and
        ``max_subjects`` are applied."""
        spec = self.dataset(dataset)
        if spec["source"] == "embedded":
            available = subject_ids(self.embedded_options(dataset))
        elif spec["source"] == "http":
            if self.await_index is not None:
                self.await_index(dataset)
            index = index_path(dataset)
            available = subjects_in_index(read_index(index), spec["contrasts"], index)
        else:
            available = sorted(local_scans(self.source(dataset), spec["contrasts"]))
        return select_subjects(available, spec, dataset)

    def local_scan(self, dataset: str, subject: str, contrast: str) -> Path:
        """The source file of one raw scan of a bids or manual dataset."""
        scans = local_scans(self.source(dataset), self.dataset(dataset)["contrasts"])
        if subject not in scans:
            raise InputError(f"datasets.{dataset}: no subject {subject!r} with all contrasts")
        return scans[subject][contrast]

    def downloads(self, dataset: str) -> list[Path]:
        """Local paths of the files an http dataset needs for its configured contrasts."""
        needed = self.source(dataset).needed_files(self.dataset(dataset)["contrasts"])
        return [download_path(dataset, f.filename) for f in needed]

    def preprocessing_downloads(self, dataset: str) -> dict[str, Path]:
        """Downloaded files that preprocessing ``dataset`` needs first: a template (SRI24) and
        the HD-BET parameters, by role."""
        spec = self.dataset(dataset)
        needed = {}
        if spec["template"] in DOWNLOADED_TEMPLATES:
            needed["template"] = downloaded_template(spec["template"])
        if spec["skullstrip"] == "hd-bet":
            needed["hdbet"] = checkpoint_file(self.config["hdbet"]["weights_dir"])
        return needed

    def datasets_of_source(self, source: str) -> list[str]:
        return [d for d in self.datasets if self.dataset(d)["source"] == source]

    def scenarios_by_contrasts(self) -> dict[tuple[str, ...], list[str]]:
        """Scenarios grouped by the set of contrasts they acquire (one fit rule per group)."""
        groups: dict[tuple[str, ...], list[str]] = {}
        for scenario in self.scenarios:
            groups.setdefault(tuple(self.scenario_contrasts(scenario)), []).append(scenario)
        return groups

    def tables(self, pattern: str) -> list[str]:
        """``pattern`` formatted for every dataset x scenario."""
        return [pattern.format(dataset=d, scenario=s)
                for d in self.datasets for s in self.scenarios]

    def caption(self, dataset: str, scenario: str) -> str:
        """Table caption: what the data are and how the LR scans were simulated."""
        spec = self.dataset(dataset)
        origin = ("synthetic subjects derived from the ICBM152 2009 template (not patient data)"
                  if spec["source"] == "embedded" else f"dataset {dataset}")
        acquisitions = "; ".join(
            f"{c} {a['view']} {a['thickness']:g} mm ({a.get('model', 'slice-profile')})"
            for c, a in sorted(self.config["scenarios"][scenario]["contrasts"].items()))
        convention = (" Metrics in the convention of McGinnis et al. 2023's code (renormalised "
                      "volumes, PSNR/SSIM over the whole volume)."
                      if self.metric_convention == "mcginnis2023" else "")
        return (f"{dataset} / {scenario}: {origin}; LR {acquisitions}; "
                f"mean ± std over {len(self.test_subjects(dataset))} test subjects.{convention}")

    def segmentation_contrast(self, scenario: str) -> str:
        """The contrast segmented for Dice in ``scenario``: ``segmentation.contrast`` if the
        scenario acquires it, else its first contrast in the order T1w, T2w, PDw, FLAIR."""
        acquired = self.scenario_contrasts(scenario)
        preferred = (self.config["segmentation"]["contrast"], "T1w", "T2w", "PDw", "FLAIR")
        return next(c for c in (*preferred, *acquired) if c in acquired)

    def figure_subject(self, dataset: str) -> str:
        """Subject of the qualitative figure: ``figures.subject`` or the first subject."""
        subjects, chosen = self.test_subjects(dataset), self.config["figures"]["subject"]
        if chosen is not None and chosen not in subjects:
            raise ConfigError(f"figures.subject: {chosen!r} is not a test subject of dataset "
                              f"{dataset!r} ({subjects})")
        return subjects[0] if chosen is None else chosen

    def error_method(self) -> str:
        """Method of the qualitative figure's error map: ``figures.error_method`` or the last."""
        return self.config["figures"]["error_method"] or self.methods[-1]

    def _check_report(self) -> None:
        """Segmentation and figure settings against the methods and scenarios."""
        if self.config.get("segmentation", {}).get("backend") == "fastsurfer":
            for scenario in self.scenarios:
                if self.segmentation_contrast(scenario) != "T1w":
                    raise ConfigError(f"segmentation.backend: FastSurfer segments T1w only, and "
                                      f"scenarios.{scenario} does not acquire T1w")
        error_method = self.config.get("figures", {}).get("error_method")
        if error_method is not None and error_method not in self.methods:
            raise ConfigError(f"figures.error_method: {error_method!r} is not listed under "
                              f"methods ({self.methods})")

    def _check_pretrained(self, method: str) -> None:
        published = self.pretrained(method)
        if published is None:
            return
        key = f"methods.{method}.{PRETRAINED}"
        if self.method_kind(method) != "cohort":
            raise ConfigError(f"{key}: only a cohort method loads a published model")
        if (not isinstance(published, dict) or set(published) != {"url", "sha256"}
                or not SHA256.fullmatch(str(published["sha256"]))
                or not re.match(r"https?://", str(published["url"]))):
            raise ConfigError(f"{key}: expected {{url: http(s)://..., sha256: <64 hex digits>}}, "
                              f"got {published!r}")

    def _check_contrast_params(self, method: str) -> None:
        """Every contrast a parameter of ``method`` names is acquired by each scenario."""
        for scenario in self.scenarios:
            try:
                check_parameter_contrasts(method, self.method_params(method),
                                          self.scenario_contrasts(scenario), f"methods.{method}",
                                          fit=f"scenarios.{scenario} acquires")
            except InputError as error:
                raise ConfigError(str(error)) from None

    @staticmethod
    def _count(key: str, value: Any) -> int:
        """``value`` as a count: an integer >= 1 (the schema lets 3.0 and 1e9 pass as ones)."""
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key}: expected an integer >= 1, got {value!r}")
        return value

    def _subject_bound(self, dataset: str) -> tuple[int, str] | None:
        """The most subjects ``dataset`` can have and the key that sets it (None: an http
        dataset's subjects, known once its index is read)."""
        spec, key = self.config["datasets"][dataset], f"datasets.{dataset}"
        bounds = []
        if spec.get("subjects"):
            bounds.append((len(spec["subjects"]), f"{key}.subjects"))
        if spec.get("max_subjects") is not None:
            bounds.append((self._count(f"{key}.max_subjects", spec["max_subjects"]),
                           f"{key}.max_subjects"))
        if spec["source"] == "embedded":
            count = spec.get("embedded", {}).get("subjects", EmbeddedOptions.subjects)
            bounds.append((self._count(f"{key}.embedded.subjects", count),
                           f"{key}.embedded.subjects"))
        elif spec["source"] != "http" and not bounds:
            bounds.append((len(self.subjects(dataset)), f"{key} (its local scans)"))
        return min(bounds) if bounds else None

    def job_count(self) -> int:
        """About how many jobs the config creates: JOBS_PER_FIT per fit, and a fit per dataset x
        scenario x method x subject x repeat (an upper bound: training subjects are not fitted;
        an http dataset without ``subjects`` or ``max_subjects`` counts once its index is read).
        ConfigError above MAX_JOBS, naming the keys that multiply up."""
        repeats = self._count("repeats", self.config.get("repeats", 1))
        bounds = [b for b in map(self._subject_bound, self.datasets) if b is not None]
        subjects = sum(count for count, _ in bounds)
        fits = subjects * len(self.scenarios) * len(self.methods) * repeats
        fits += sum(len(self.sessions(study)) for study in self.studies) * len(self.methods)
        jobs = JOBS_PER_FIT * fits
        if jobs > MAX_JOBS:
            terms = " + ".join(f"{key} ({count:,})" for count, key in bounds)
            raise ConfigError(
                f"repeats ({repeats}) x scenarios ({len(self.scenarios)}) x methods "
                f"({len(self.methods)}) x {terms} = {fits:,} fits, about {jobs:,} jobs "
                f"({JOBS_PER_FIT} per fit), above the limit of {MAX_JOBS:,}: lower one of them "
                "or split the benchmark into several configs")
        return jobs

    def _check_numbers(self) -> None:
        """Every number finite (YAML's .nan and .inf pass a schema's bounds) and every seed >= 0."""
        pending: list[tuple[str, Any]] = [(str(key), value) for key, value in self.config.items()]
        while pending:
            key, value = pending.pop()
            if isinstance(value, dict):
                pending += [(f"{key}.{k}", v) for k, v in value.items()]
            elif isinstance(value, list):
                pending += [(f"{key}[{i}]", v) for i, v in enumerate(value)]
            elif isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{key}: expected a finite number, got {value}")
            elif key.rpartition(".")[2] == "seed" and isinstance(value, int) and value < 0:
                raise ConfigError(f"{key}: expected an integer >= 0, got {value}")

    def _check_thicknesses(self) -> None:
        """Each slice thickness against every dataset's HR spacing (``resolution_mm``): not
        below it, and for model ``decimate`` (keep every k-th slice) a whole multiple of it."""
        for scenario in self.scenarios:
            for contrast, spec in self.config["scenarios"][scenario]["contrasts"].items():
                key = f"scenarios.{scenario}.contrasts.{contrast}.thickness"
                for dataset in self.datasets:
                    spacing = self.dataset(dataset).get("resolution_mm", 1.0)
                    step = spec["thickness"] / spacing
                    where = f"datasets.{dataset}.resolution_mm = {spacing:g} mm"
                    if step < 1.0 - 1e-6:
                        raise ConfigError(f"{key}: {spec['thickness']:g} mm is below the HR "
                                          f"spacing ({where}): nothing to super-resolve")
                    if spec.get("model") == "decimate" and abs(step - round(step)) > 1e-6:
                        raise ConfigError(f"{key}: model 'decimate' keeps every k-th HR slice, "
                                          f"so {spec['thickness']:g} mm must be a multiple of "
                                          f"the HR spacing ({where})")

    def _check_studies(self) -> None:
        """A study's contrasts, sessions and every cohort method's model file; scenarios for the
        benchmark datasets (a config of studies only needs none)."""
        if self.datasets and not self.scenarios:
            raise ConfigError(f"scenarios: the benchmark dataset(s) {self.datasets} need at "
                              "least one scenario (or set ground_truth: false on a study)")
        for method in self.methods:
            model = self.study_model(method)
            key = f"methods.{method}.{STUDY_MODEL}"
            if model is not None and self.method_kind(method) != "cohort":
                raise ConfigError(f"{key}: only a cohort method predicts with a model file")
            if self.method_kind(method) == "cohort" and self.studies:
                if model is None:
                    raise ConfigError(f"{key}: cohort method {method!r} needs the model a "
                                      f"benchmark run trained to run on the studies "
                                      f"{self.studies} (e.g. results/<dataset>/models/"
                                      f"<scenario>/{method}/model.pt)")
                trained_here = {model_file(dataset=d, scenario=s, method=method)
                                for d in self.datasets for s in self.scenarios
                                if method in self.trained_methods}
                if model not in trained_here and not Path(model).is_file():
                    raise ConfigError(f"{key}: model file {model} not found (nor trained by "
                                      "this config's benchmark)")
        for name in self.studies:
            spec = self.study(name)
            if spec["reference_contrast"] not in spec["contrasts"]:
                raise ConfigError(f"datasets.{name}.reference_contrast: "
                                  f"{spec['reference_contrast']!r} is not among its contrasts "
                                  f"{spec['contrasts']}")
            try:
                sessions = self.sessions(name)
            except InputError as error:
                raise ConfigError(str(error)) from None
            if not sessions:
                raise ConfigError(f"datasets.{name}: no session has all of {spec['contrasts']}")

    def check(self) -> None:
        """Raise ConfigError for the first inconsistency found."""
        self._check_numbers()
        self._check_report()
        known = method_names()
        for method in self.methods:
            if method not in known:
                raise ConfigError(f"methods.{method}: unknown method; known: {known}")
            self._check_contrast_params(method)
            try:
                method_spec(method).make_params(self.method_params(method))
            except InputError as error:
                raise ConfigError(str(error)) from None
            self._check_pretrained(method)
        if self.config["reference_method"] not in self.config["methods"]:
            raise ConfigError(f"reference_method: {self.config['reference_method']!r} is not "
                              f"listed under methods ({self.methods})")
        self._check_studies()
        for name in self.datasets:
            try:
                offered = offered_contrasts(self.source(name))
            except InputError as error:
                raise ConfigError(str(error)) from None
            spec = self.dataset(name)
            contrasts = spec["contrasts"]
            if offered is not None and not set(contrasts) <= set(offered):
                missing = sorted(set(contrasts) - set(offered))
                raise ConfigError(f"datasets.{name}.contrasts: {missing} not offered by its "
                                  f"{spec['source']} source (it has {offered})")
            if spec["reference_contrast"] not in contrasts:
                raise ConfigError(f"datasets.{name}.reference_contrast: "
                                  f"{spec['reference_contrast']!r} is not among its contrasts "
                                  f"{contrasts}")
            for scenario in self.scenarios:
                missing = sorted(set(self.scenario_contrasts(scenario)) - set(contrasts))
                if missing:
                    raise ConfigError(f"scenarios.{scenario} needs contrast(s) {missing}, which "
                                      f"dataset {name!r} lacks (it has {contrasts})")
        self.job_count()  # before any subject list is built
        for name in self.datasets:
            if self.dataset(name)["source"] != "http":  # http subjects are known after download
                self.split(name)
        self._check_thicknesses()
