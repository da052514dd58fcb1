"""Hyper-parameter tuning of subject methods on validation subjects, never on test subjects.

A subject method whose hyper-parameters are free declares a tuning grid: ``TUNING_GRID``, a
class attribute of its parameter dataclass mapping hyper-parameter names to candidate values
(LRTV: ``lambda_tv`` x ``lambda_rank``, see ``isosr.methods.lrtv.params``). Config key
``tuning.methods`` lists the methods to tune; the workflow then runs one job per dataset x
scenario x method (rule ``tune``, ``run_tuning``) that writes ``tuning_record()`` and every fit
of that method reads the chosen values from it (``fit_tuning``) and records them in fit.json.

The protocol (``PROTOCOL``, written into every tuning record):

1. validation subjects: the first ``tuning.subjects`` (default 1) training subjects, sorted, of
   the dataset's split (``datasets.<d>.split``); the test subjects are never read;
2. for every grid point (every combination of the grid's values, the method's other
   hyper-parameters as configured) the method is fitted on each validation subject's LR images
   simulated for the scenario, each contrast is scored by PSNR (``isosr.metrics.psnr``: dB, data
   range 1, MSE inside the brain mask) against the subject's HR ground truth;
3. a point's score is the mean over contrasts, then over validation subjects; the highest score
   wins, and the paper's values (the dataclass defaults) win a tie: a score within ``TIE_DB`` of
   the best.

Without training subjects nothing is fitted: the record says ``untuned`` with the reason, and
the fits keep the configured values (their fit.json says so too).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import numpy as np

import isosr.paths as paths
from isosr.config import ConfigError
from isosr.fit import cpu_seconds, load_grid, load_lr, loaded_torch, peak_host_memory_mb
from isosr.io import InputError, check_same_grid, load_nifti, save_json
from isosr.masks import check_truth_scale
from isosr.methods import create_method, method_names, method_spec
from isosr.metrics import psnr
from isosr.repeats import fit_seed

log = logging.getLogger(__name__)

GRID_ATTRIBUTE = "TUNING_GRID"  # on a method's parameter dataclass
TIE_DB = 0.01  # scores this close to the best are a tie (tables print PSNR to 0.01 dB)
DEFAULT_SUBJECTS = 1
PROTOCOL = (
    "Grid search over every combination of the grid's values, the method's other "
    "hyper-parameters as configured. Validation subjects: the first {subjects} training "
    "subject(s) (sorted) of the dataset's split; test subjects are never used. For each point "
    "the method is fitted on each validation subject's LR images simulated for this scenario "
    "and each contrast is scored by PSNR (isosr.metrics.psnr: dB, data range 1, MSE inside the "
    "brain mask) against the subject's HR ground truth. A point's score is the mean over "
    "contrasts, then over validation subjects; the highest score wins, and the paper's values "
    "win a tie (a score within {tie} dB of the best). Without training subjects the method "
    "keeps its configured values.")


def tuning_record(*, dataset: str = "{dataset}", scenario: str = "{scenario}",
                  method: str = "{method}") -> str:
    """The tuning record of one method for one dataset x scenario (the ``tune`` rule's output;
    built like every path of ``isosr.paths``)."""
    return f"{paths.RESULTS}/{dataset}/tuning/{scenario}/{method}.json"


def tuning_grid(method: str) -> dict[str, tuple[Any, ...]] | None:
    """The tuning grid ``method`` declares (``TUNING_GRID`` of its parameter dataclass), or
    None for a method without one."""
    grid = getattr(method_spec(method).params, GRID_ATTRIBUTE, None)
    return None if grid is None else {key: tuple(values) for key, values in grid.items()}


def tunable_methods() -> list[str]:
    """Every declared method with a tuning grid."""
    return [name for name in method_names() if tuning_grid(name) is not None]


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, keys and values in the grid's order."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(grid[key] for key in keys))]


def paper_values(method: str, keys: Sequence[str]) -> dict[str, Any]:
    """The defaults (the paper's values) of ``method``'s hyper-parameters ``keys``."""
    defaults = {f.name: f.default for f in fields(method_spec(method).params)
                if f.default is not MISSING}
    missing = [key for key in keys if key not in defaults]
    if missing:
        raise InputError(f"{method}: its tuning grid names {missing}, which are not "
                         "hyper-parameters with a default")
    return {key: defaults[key] for key in keys}


class TuningPlan:
    """What config key ``tuning`` asks of the workflow, checked against the plan (an
    ``isosr.config.Plan``): which methods are tuned, on which subjects, with which files.

    Input functions take Snakemake's wildcards (any object with ``dataset``, ``scenario`` and
    ``method`` attributes).
    """

    def __init__(self, plan: Any) -> None:
        self.plan = plan
        spec = plan.config.get("tuning") or {}
        self.methods: list[str] = list(spec.get("methods") or [])
        self.subjects: int = spec.get("subjects", DEFAULT_SUBJECTS)
        self._check()

    def _check(self) -> None:
        if isinstance(self.subjects, bool) or not isinstance(self.subjects, int) \
                or self.subjects < 1:
            raise ConfigError(f"tuning.subjects: expected an integer >= 1, got {self.subjects!r}")
        for method in self.methods:
            key = "tuning.methods"
            if method not in self.plan.methods:
                raise ConfigError(f"{key}: {method!r} is not listed under methods "
                                  f"({self.plan.methods})")
            grid = tuning_grid(method)
            if grid is None or method_spec(method).kind != "subject":
                raise ConfigError(f"{key}: {method} declares no tuning grid (subject methods "
                                  f"that do: {tunable_methods()})")
            configured = self.plan.method_params(method)
            for name, values in grid.items():
                if name in configured:
                    raise ConfigError(
                        f"methods.{method}.{name}: set to {configured[name]!r}, but "
                        f"tuning.methods lists {method}, which chooses {name} from "
                        f"{list(values)}; remove one of the two")

    def tuned(self, method: str) -> bool:
        return method in self.methods

    def fits(self, method: str) -> int:
        """Fits one tuning job of ``method`` runs at most (grid points x validation subjects)."""
        return len(grid_points(tuning_grid(method) or {})) * self.subjects

    def runtime(self, per_fit: int | Callable[[Any], int]) -> Callable[[Any], int]:
        """A tuning job's runtime resource (minutes) from that of one fit (a number or a
        function of the wildcards, as ``stage_resources`` gives it)."""
        return lambda wildcards: self.fits(wildcards.method) * (
            per_fit(wildcards) if callable(per_fit) else per_fit)

    def validation_subjects(self, dataset: str) -> list[str]:
        """The first ``tuning.subjects`` training subjects of ``dataset`` (sorted); [] without
        training subjects. Never a test subject."""
        train, test = self.plan.split(dataset)
        chosen = sorted(train)[:self.subjects]
        if set(chosen) & set(test):  # the split guarantees it; the protocol relies on it
            raise ConfigError(f"datasets.{dataset}.split: {sorted(set(chosen) & set(test))} are "
                              "both training and test subjects")
        return chosen

    def seeds(self, wildcards: Any) -> dict[str, int]:
        """The seed of each validation subject's fits (as its repeat-0 fit would have)."""
        return {s: fit_seed(self.plan.config.get("seed", 0), s, wildcards.method, 0)
                for s in self.validation_subjects(wildcards.dataset)}

    def inputs(self, wildcards: Any) -> dict[str, list[str]]:
        """The ``tune`` job's inputs: HR ground truth, simulated LR scans and brain masks of the
        validation subjects only (subject-major, contrast-minor)."""
        dataset, scenario = wildcards.dataset, wildcards.scenario
        contrasts = self.plan.scenario_contrasts(scenario)
        subjects = self.validation_subjects(dataset)
        return {
            "hr": [paths.hr_image(dataset=dataset, s=s, contrast=c)
                   for s in subjects for c in contrasts],
            "lr": [paths.lr_image(dataset=dataset, scenario=scenario, s=s, contrast=c)
                   for s in subjects for c in contrasts],
            "masks": [paths.brain_mask(dataset=dataset, s=s) for s in subjects],
        }

    def fit_input(self, wildcards: Any) -> dict[str, str]:
        """A fit's tuning record ({} for a method that is not tuned)."""
        if not self.tuned(wildcards.method):
            return {}
        return {"tuning": tuning_record(dataset=wildcards.dataset, scenario=wildcards.scenario,
                                        method=wildcards.method)}


def choose(points: Sequence[Mapping[str, Any]], scores: Sequence[float | None],
           paper: Mapping[str, Any]) -> tuple[int, str]:
    """The index of the winning point and why: the best score, or the paper's values where
    they score within ``TIE_DB`` of it. A point without a score (None, NaN) never wins."""
    scored = [(score, i) for i, score in enumerate(scores)
              if score is not None and not math.isnan(score)]
    if not scored:
        raise InputError("no grid point gave a finite validation PSNR")
    best = max(score for score, _ in scored)
    index = next(i for score, i in scored if score == best)
    paper_index = next((i for i, point in enumerate(points) if dict(point) == dict(paper)), None)
    if paper_index is not None and paper_index != index:
        paper_score = scores[paper_index]
        if paper_score is not None and paper_score >= best - TIE_DB:
            return paper_index, f"the paper's values, within {TIE_DB} dB of the best"
    return index, "the best validation PSNR"


def _score(value: float) -> float | None:
    return None if math.isnan(value) else value


def _mean(values: Sequence[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def _load_subject(files: Mapping[str, Any], acquisitions: Mapping[str, Mapping[str, Any]]
                  ) -> tuple[Any, dict, dict[str, np.ndarray]]:
    """Grid (with mask), LR images and HR ground truth of one validation subject."""
    mask_path = files["mask"]
    grid = load_grid(mask_path)
    mask_affine = load_nifti(mask_path)[1]
    lr = load_lr(files["lr"], acquisitions, grid, mask_path)
    truths = {}
    for contrast, path in files["hr"].items():
        data, affine = load_nifti(path)
        check_same_grid(path, data.shape, affine, mask_path, grid.shape, mask_affine)
        check_truth_scale(data, grid.mask, path)
        truths[contrast] = data
    missing = sorted(set(lr) - set(truths))
    if missing:
        raise InputError(f"tuning: no HR ground truth given for contrast(s) {missing}")
    return grid, lr, truths


def untuned_reason(dataset: str, method: str, paper: Mapping[str, Any]) -> str:
    values = ", ".join(f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
                       for key, value in paper.items())
    return (f"dataset {dataset} has no training subjects (datasets.{dataset}.split) and the "
            f"protocol never tunes on test subjects: {method} keeps its configured values "
            f"({values})")


def run_tuning(*, method: str, params: Mapping[str, Any] | None,
               subjects: Mapping[str, Mapping[str, Any]],
               acquisitions: Mapping[str, Mapping[str, Any]], output: str | Path,
               training_subjects: Sequence[str], test_subjects: Sequence[str],
               dataset: str, scenario: str, seeds: Mapping[str, int] | None = None,
               grid: Mapping[str, Sequence[Any]] | None = None, threads: int | None = None,
               max_subjects: int = DEFAULT_SUBJECTS) -> dict:
    """Tune ``method`` on the validation ``subjects`` and write the record to ``output``.

    ``subjects`` maps each validation subject to ``{"hr": {contrast: path}, "lr": {contrast:
    path}, "mask": path}``; each must be one of ``training_subjects`` and none of
    ``test_subjects`` (refused otherwise). ``grid`` defaults to the method's declared one;
    ``params`` are its other hyper-parameters. Returns the record.
    """
    grid = {key: list(values) for key, values in (grid or tuning_grid(method) or {}).items()}
    if not grid:
        raise InputError(f"tuning: {method} declares no tuning grid")
    leaked = sorted(set(subjects) & set(test_subjects))
    if leaked:
        raise InputError(f"tuning: {leaked} are test subjects; the protocol never tunes on them")
    unknown = sorted(set(subjects) - set(training_subjects))
    if unknown:
        raise InputError(f"tuning: {unknown} are not training subjects "
                         f"({sorted(training_subjects)})")
    base = dict(params or {})
    tuned_keys = sorted(set(grid) & set(base))
    if tuned_keys:
        raise InputError(f"tuning: {tuned_keys} are both configured and tuned")
    method_spec(method).make_params(base)  # bad configured values: refused before any fit
    points = grid_points(grid)
    for point in points:
        method_spec(method).make_params({**base, **point}, key=f"tuning grid of {method}")
    paper = paper_values(method, list(grid))
    record: dict[str, Any] = {
        "method": method, "dataset": dataset, "scenario": scenario,
        "protocol": PROTOCOL.format(subjects=max_subjects, tie=TIE_DB), "metric": "PSNR",
        "grid": grid, "paper": paper, "params": base, "tie_db": TIE_DB,
        "validation_subjects": sorted(subjects), "training_subjects": sorted(training_subjects),
        "test_subjects": sorted(test_subjects), "contrasts": sorted(acquisitions),
    }
    if not subjects:
        reason = untuned_reason(dataset, method, paper)
        log.info("tuning %s: untuned: %s", method, reason)
        record.update(status="untuned", reason=reason, chosen=None, validation_psnr=None,
                      points=[], wall_seconds=0.0)
        save_json(output, record)
        return record
    start, cpu = time.perf_counter(), cpu_seconds()
    scores: dict[int, dict[str, dict[str, float | None]]] = {i: {} for i in range(len(points))}
    seconds = [0.0] * len(points)
    fits_total, fits_done = len(points) * len(subjects), 0
    for number, subject in enumerate(sorted(subjects), start=1):
        grid_of_subject, lr, truths = _load_subject(subjects[subject], acquisitions)
        seed = (seeds or {}).get(subject, 0)
        for i, point in enumerate(points):
            model = create_method(method, {**base, **point}, seed=seed)
            torch = loaded_torch()
            if torch is not None and threads is not None:
                torch.set_num_threads(threads)
            fit_start = time.perf_counter()
            result = model.fit_predict(lr, grid_of_subject)
            seconds[i] += time.perf_counter() - fit_start
            scores[i][subject] = {
                c: _score(psnr(np.asarray(result.images[c]), truths[c], grid_of_subject.mask))
                for c in sorted(lr)}
            fits_done += 1
            elapsed = time.perf_counter() - start
            text = ", ".join(f"{c} {'n/a' if v is None else f'{v:.2f}'}"
                             for c, v in scores[i][subject].items())
            log.info("tuning %s: subject %s (%d/%d), point %d/%d %s: PSNR %s dB; %d/%d fits, "
                     "ETA %.0f s", method, subject, number, len(subjects), i + 1, len(points),
                     point, text, fits_done, fits_total,
                     elapsed / fits_done * (fits_total - fits_done))
    rows, means = [], []
    for i, point in enumerate(points):
        per_subject = {s: _mean(list(scores[i][s].values())) for s in sorted(subjects)}
        mean = _mean(list(per_subject.values()))
        means.append(mean)
        rows.append({"params": point, "psnr": mean, "subject_psnr": per_subject,
                     "contrast_psnr": scores[i], "seconds": seconds[i]})
    try:
        index, why = choose(points, means, paper)
    except InputError as error:
        raise InputError(f"tuning {method}: {error}") from None
    paper_row = next((row for row in rows if row["params"] == paper), None)
    edge = [key for key, values in grid.items()
            if len(values) > 1 and points[index][key] in (min(values), max(values))]
    if edge:
        log.warning("tuning %s: %s chosen at the end of the grid; a wider grid may score higher",
                    method, ", ".join(f"{key} = {points[index][key]}" for key in edge))
    record.update(
        status="tuned", chosen=points[index], validation_psnr=means[index], chosen_because=why,
        at_grid_edge=edge,
        paper_psnr=None if paper_row is None else paper_row["psnr"], points=rows,
        wall_seconds=time.perf_counter() - start, cpu_seconds=cpu_seconds() - cpu,
        peak_memory_mb=peak_host_memory_mb(),
        threads=threads if loaded_torch() is None else loaded_torch().get_num_threads(),
        host=platform.node())
    log.info("tuning %s: chose %s (%s): validation PSNR %.3f dB (paper's values: %s dB)",
             method, points[index], why, means[index],
             "n/a" if record["paper_psnr"] is None else f"{record['paper_psnr']:.3f}")
    save_json(output, record)
    return record


def fit_tuning(method: str, params: Mapping[str, Any] | None,
               tuning_file: str | Path | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The hyper-parameters a fit of ``method`` uses and the ``tuning`` entry of its fit.json.

    A method without a tuning grid: ``params`` as they are, no entry. Not tuned
    (``tuning_file`` None): the configured values, ``{"status": "off"}``. Otherwise the
    record's chosen values over ``params`` (none where it is ``untuned``) and what the record
    says: status, chosen values, validation PSNR and subjects, the file.
    """
    values = dict(params or {})
    grid = tuning_grid(method)
    if grid is None:
        return values, None
    if tuning_file is None:
        return values, {"status": "off",
                        "reason": f"tuning.methods does not list {method}: configured values"}
    try:
        record = json.loads(Path(tuning_file).read_text())
        status = record["status"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{tuning_file}: not a tuning record ({error})") from None
    if record.get("method") != method:
        raise InputError(f"{tuning_file}: tunes {record.get('method')!r}, not {method}")
    entry = {"status": status, "file": str(tuning_file)}
    if status == "untuned":
        return values, {**entry, "reason": record.get("reason")}
    chosen = record.get("chosen")
    if status != "tuned" or not isinstance(chosen, dict) or set(chosen) - set(grid):
        raise InputError(f"{tuning_file}: expected status 'tuned' with chosen values of "
                         f"{sorted(grid)}, got status {status!r}, chosen {chosen!r}")
    return {**values, **chosen}, {
        **entry, "chosen": chosen, "validation_psnr": record.get("validation_psnr"),
        "validation_subjects": record.get("validation_subjects"),
        "chosen_because": record.get("chosen_because")}
