"""Paper tables from the per-subject metrics: CSV (full precision), Markdown, LaTeX (booktabs)
and HTML (for the Snakemake report, which shows HTML inline).

Three tables per dataset x scenario:

- quality (the layout of McGinnis et al. 2023, Table 1): rows = methods, a column group per
  contrast with PSNR, SSIM and LPIPS, then a group with eps_MI per contrast and joint;
- Dice: Dice and absolute volume difference per tissue class (and per structure, FastSurfer);
- cost: fit wall time, CPU time (where recorded), peak memory, trained parameters, optimiser
  steps and device, from every fit.json and train.json.

Every row names its variant: the method's profile (``-`` without profiles; a ``cpu`` profile is a
reduced budget, marked ‡), with a footnote listing the profile settings that differ from the
method's ``paper`` profile, and whether the method was given the true degradation (informed) or
not (blind), as its declaration says (``MethodSpec.knowledge``).

With ``repeats`` (several seeds per fit), each subject's value is first averaged over its
repeats. Cells are mean ± std over subjects of these per-subject means (std with ddof = 1) and,
with more than one repeat, the seed std in brackets: the mean over subjects of the per-subject
std over repeats (ddof = 1), i.e. how much one fit moves with its initialisation. Per column the
best mean is bold and the second best underlined (means compared as displayed, so equal-looking
values tie; the worst value is never emphasised). Against the reference method, each method gets
the p-value of a two-sided paired Wilcoxon signed-rank test over subjects of the per-subject means
(scipy), Holm-adjusted over the methods compared in the column, and the mean paired difference
with its 95 % t interval (CSV), only when at least ``MIN_SUBJECTS_FOR_TEST`` subjects have both
values. The tables show the adjusted p-value; the CSV has both. A metric
that is missing for every subject shows "n/a" and, when a note explains why (e.g. no LPIPS
weights), a footnote.

The LaTeX file is a ``table`` float that needs only ``\\usepackage{booktabs,graphicx}``: \\input it
into a paper, or wrap it in a minimal document to compile it on its own (tests do both). A table
wider than the text is scaled down to the text width (never up).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import t as student_t
from scipy.stats import wilcoxon

from isosr.methods import method_names, method_spec
from isosr.repeats import split_repeat
from isosr.results import METRIC_COLUMNS, read_metrics, region_metric
from isosr.segment import STRUCTURES
from isosr.vocabulary import CONTRASTS, TISSUES

# The long format of every metrics TSV (written by isosr.evaluate): one row per value; 'repeat'
# is the repeat index of the fit (0 without repeats).
HIGHER_IS_BETTER = {"PSNR": True, "SSIM": True, "LPIPS": False, "eps_MI": False, "Dice": True,
                    "DC_PSNR": True, "DC_SSIM": True, "MI": True,
                    "AVD": False, "fit_seconds": False, "peak_memory_mb": False,
                    "train_seconds": False, "train_peak_memory_mb": False, "cpu_seconds": False,
                    "train_cpu_seconds": False}
QUALITY_METRICS = ("PSNR", "SSIM", "LPIPS")
TRAINING = "train"  # pseudo-subject of a cohort method's training cost
MIN_SUBJECTS_FOR_TEST = 5
CONFIDENCE = 0.95  # of the t interval of the mean paired difference
COST = "all"  # contrast value of the cost rows (fit.json is per method and subject)
REDUCED_PROFILES = ("cpu",)  # smoke-test sizes of the paper's networks and training budgets
REDUCED_MARK = "‡"
PROFILE_LABELS = {"fast": "hash grid"}  # what a profile is, where its name does not say it
ROW_HEADERS = ("Method", "Profile", "Degradation")
# McGinnis et al. 2023, Table 1's rows in its order (other methods keep their config places)


@dataclass(frozen=True)
class Column:
    """One table column: which (contrast, metric) it shows and how it is labelled."""

    group: str  # spanning header over consecutive columns ("" = none)
    label: str  # header under the group (Markdown text)
    latex: str  # the same header in LaTeX
    header: str  # the flat Markdown header (Markdown has no spanning headers)
    contrast: str
    metric: str
    digits: int = 3
    text: bool = False  # a text column (e.g. device) instead of mean ± std
    spread: bool = True  # show the std (False: counts, shown as their mean)

    @property
    def higher_is_better(self) -> bool | None:
        return None if self.text else HIGHER_IS_BETTER.get(region_metric(self.metric)[0])

    @property
    def arrows(self) -> tuple[str, str]:
        """(Markdown, LaTeX) direction arrow."""
        if self.higher_is_better is None:
            return "", ""
        return (" ↑", r" $\uparrow$") if self.higher_is_better else (" ↓", r" $\downarrow$")


@dataclass(frozen=True)
class Cell:
    """Mean ± std over subjects of one method in one column, the seed std (NaN with one repeat),
    its p-value (and Holm-adjusted), the mean paired difference to the reference with its t
    interval (mean, low, high) and its rank (1 = best); ``n`` subjects, up to ``repeats`` repeats
    each."""

    mean: float
    std: float
    n: int
    p_value: float | None = None
    rank: int | None = None
    seed_std: float = float("nan")
    repeats: int = 1
    p_holm: float | None = None
    difference: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Variant:
    """What one row is: its method's profile ('-' without profiles), whether it was given the
    true degradation ('informed' | 'blind'; '–' for an undeclared method) and its profile
    settings that differ from the method's paper profile ('key value (paper: value)'); for a
    tuned method, the values its tuning chose and on what."""

    profile: str = "-"
    knowledge: str = "–"
    differences: tuple[str, ...] = ()
    tuned: str = ""

    @property
    def reduced(self) -> bool:
        return self.profile in REDUCED_PROFILES

    @property
    def label(self) -> str:
        """The row's profile cell: 'paper', 'hash grid (fast)', 'cpu‡' (reduced) or '–'."""
        if self.profile == "-":
            return "–"
        name = (f"{PROFILE_LABELS[self.profile]} ({self.profile})"
                if self.profile in PROFILE_LABELS else self.profile)
        return name + (REDUCED_MARK if self.reduced else "")


@dataclass
class Table:
    """A rendered-ready table: columns, method rows, cells and footnotes."""

    name: str
    caption: str
    columns: list[Column]
    methods: list[str]
    cells: dict[tuple[str, int], Cell | str]
    notes: dict[str, str] = field(default_factory=dict)  # metric family -> why it is missing
    footnotes: list[str] = field(default_factory=list)
    variants: dict[str, Variant] = field(default_factory=dict)  # method -> what its row is


def trained_parameters(record: dict[str, Any]) -> int | None:
    """Trained weights of a fit or training record, over all its networks (an INR fit.json's
    ``parameters``; a cohort train.json's ``parameters_per_contrast`` x its contrasts)."""
    if "parameters_per_contrast" in record:
        return record["parameters_per_contrast"] * len(record["per_contrast"])
    return record.get("parameters")


def training_steps(record: dict[str, Any]) -> int | None:
    """Optimiser steps of a fit or training record, over all its networks: a cohort training's
    epochs x steps per epoch; an INR fit's epochs x batches of its training coordinates."""
    if "per_contrast" in record:
        return sum(h["epochs"] * h["steps_per_epoch"] for h in record["per_contrast"].values())
    networks = record.get("networks", {"": record})
    if not all("training_coordinates" in h for h in networks.values()):
        return None
    batch = record["params"]["batch_size"]
    return sum(h["epochs"] * math.ceil(h["training_coordinates"] / batch)
               for h in networks.values())


def training_histories(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The training history of each network a fit or training record trained (none for a
    method that does not learn or an external tool)."""
    if "per_contrast" in record:
        return list(record["per_contrast"].values())
    return [h for h in record.get("networks", {"": record}).values()
            if h.get("epochs") is not None]


def stop_reason(history: dict[str, Any]) -> str:
    """Why a network's training ended: the MI rule, the equal-compute budget, or its epochs."""
    if history.get("stopping_epoch") is not None:
        return "MI"
    return "budget" if history.get("stopped_by_budget") else "epochs"


def stop_summary(reasons: list[str]) -> str:
    """``epochs`` when every network ran its epochs, else e.g. ``MI 3/4, epochs 1/4``."""
    counts = {reason: reasons.count(reason) for reason in ("MI", "budget", "epochs")
              if reason in reasons}
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{reason} {n}/{len(reasons)}" for reason, n in counts.items())


def read_fit_records(paths: Iterable[str | Path], dataset: str, scenario: str,
                     train_paths: Iterable[str | Path] = ()
                     ) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """Fit cost of every fit.json, and training cost of every train.json (cohort methods), as
    metric rows (contrast 'all'), and per text column ('device', 'stopped by') its text per
    method.

    Wall and CPU seconds (``cpu_seconds``, where recorded) and peak memory, then the trained
    parameters, optimiser steps and epochs trained (mean over its networks) of the record that
    trained (an INR's fit, a cohort method's training), and why each network stopped. The
    subject and repeat are read from the ``sub-<label>[_rep-<r>]`` folder of each fit.json; a
    training's rows belong to the pseudo-subject 'train', so only the training columns average
    them.
    """
    rows, devices, reasons = [], {}, {}
    for path, prefix in [*((p, "fit") for p in paths), *((p, "train") for p in train_paths)]:
        record = json.loads(Path(path).read_text())
        folder, repeat = split_repeat(Path(path).parent.name)
        subject = TRAINING if prefix == "train" else folder.removeprefix("sub-")
        method = record["method"]
        devices.setdefault(method, set()).add(record["device"])
        histories = training_histories(record)
        if histories:
            reasons.setdefault(method, []).extend(stop_reason(h) for h in histories)
        training = prefix == "train"
        values = {f"{prefix}_seconds": record["wall_seconds"],
                  "train_cpu_seconds" if training else "cpu_seconds": record.get("cpu_seconds"),
                  "train_peak_memory_mb" if training else "peak_memory_mb":
                      record["peak_memory_mb"],
                  "parameters": trained_parameters(record), "steps": training_steps(record),
                  "epochs": (sum(h["epochs"] for h in histories) / len(histories)
                             if histories else None)}
        rows += [(dataset, scenario, method, subject, repeat, COST, metric, float(value))
                 for metric, value in values.items() if value is not None]
    frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    return frame, {"device": {method: ", ".join(sorted(names))
                              for method, names in devices.items()},
                   "stopped by": {method: stop_summary(r) for method, r in reasons.items()}}


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def tuning_text(tuning: dict[str, Any] | None) -> str:
    """A fit.json ``tuning`` entry in words: 'lambda_tv 0.001, lambda_rank 0.001 (tuned on
    sub-04: validation PSNR 34.71 dB)', or why it is untuned; '' when tuning is off."""
    if not tuning or tuning.get("status") == "off":
        return ""
    if tuning.get("status") != "tuned":
        return f"not tuned ({tuning.get('reason')}): configured values"
    chosen = ", ".join(f"{k} {_setting(v)}" for k, v in tuning["chosen"].items())
    subjects = ", ".join(f"sub-{s}" for s in tuning.get("validation_subjects") or [])
    return (f"{chosen} (tuned on {subjects}: validation PSNR "
            f"{tuning['validation_psnr']:.2f} dB)")


def method_variant(method: str, params: dict[str, Any],
                   tuning: dict[str, Any] | None = None) -> Variant:
    """The variant of ``method`` run with ``params`` (as in its fit.json or train.json): its
    profile, its knowledge of the degradation, over the keys its profiles set every value that
    differs from its paper profile's (a key the row leaves unset, ``None``, is not used), and
    what its ``tuning`` entry chose."""
    if method not in method_names():
        return Variant()
    spec = method_spec(method)
    knowledge = spec.degradation_knowledge(params)
    tuned = tuning_text(tuning)
    if not spec.profiles:
        return Variant(knowledge=knowledge, tuned=tuned)
    paper = json.loads(json.dumps(asdict(spec.make_params({"profile": "paper"}))))
    keys = dict.fromkeys(key for values in spec.profiles.values() for key in values)
    differences = tuple(
        f"{key} {_setting(params[key])}"
        + ("" if paper.get(key) is None else f" (paper: {_setting(paper[key])})")
        for key in keys if params.get(key) is not None and params[key] != paper.get(key))
    return Variant(params["profile"], knowledge, differences, tuned)


def read_variants(paths: Iterable[str | Path]) -> dict[str, Variant]:
    """Each method's variant from its fit.json and train.json records (which must agree)."""
    variants: dict[str, Variant] = {}
    for path in paths:
        record = json.loads(Path(path).read_text())
        variant = method_variant(record["method"], record["params"], record.get("tuning"))
        if variants.setdefault(record["method"], variant) != variant:
            raise ValueError(f"{path}: {record['method']} ran with other settings than in its "
                             f"other fit records ({variant} against "
                             f"{variants[record['method']]}); re-run its fits")
    return variants


def ordered_methods(names: Iterable[str]) -> list[str]:
    """Method names in their given order, except that declared methods, in the places they
    take, follow the catalog's order (McGinnis et al.'s Table 1, then the cohort methods)."""
    names = list(dict.fromkeys(names))
    catalog = method_names()
    declared = iter(sorted((m for m in names if m in catalog), key=catalog.index))
    return [next(declared) if m in catalog else m for m in names]


def method_label(method: str) -> str:
    """A method's row label: its paper name where it differs from the registry name."""
    return (method_spec(method).label or method) if method in method_names() else method


def method_note(method: str) -> str | None:
    return method_spec(method).note if method in method_names() else None


def ordered_contrasts(names: Iterable[str]) -> list[str]:
    """Contrast names in the order T1w, T2w, FLAIR, PDw, then any others alphabetically."""
    order = {c: i for i, c in enumerate(CONTRASTS)}
    return sorted(set(names), key=lambda c: (order.get(c, len(order)), c))


def quality_columns(metrics: pd.DataFrame) -> list[Column]:
    """PSNR/SSIM/LPIPS per contrast, then eps_MI per contrast and joint (McGinnis Table 1)."""
    present = set(zip(metrics["contrast"], metrics["metric"], strict=True))
    contrasts = ordered_contrasts(c for c, m in present if m in QUALITY_METRICS)
    columns = [Column(c, m, m, f"{c} {m}", c, m) for c in contrasts for m in QUALITY_METRICS
               if (c, m) in present]
    mi_contrasts = [c for c in contrasts if (c, "eps_MI") in present]
    group = " & ".join(contrasts)
    columns += [Column(group, f"ε_MI({c})", rf"$\epsilon_{{MI}}^{{\mathrm{{{c}}}}}$",
                       f"ε_MI({c})", c, "eps_MI") for c in mi_contrasts]
    if ("joint", "eps_MI") in present:
        columns.append(Column(group, "ε_MI(joint)", r"$\hat{\epsilon}_{MI}$", "ε_MI(joint)",
                              "joint", "eps_MI"))
    return columns


def _region_order(region: str) -> tuple[int, int, str]:
    if region in TISSUES:
        return 0, list(TISSUES).index(region), region
    return 1, list(STRUCTURES).index(region) if region in STRUCTURES else len(STRUCTURES), region


def dice_columns(metrics: pd.DataFrame) -> list[Column]:
    """Per segmented contrast: Dice per tissue and their mean, AVD per tissue, then structures."""
    columns = []
    for contrast in ordered_contrasts(metrics["contrast"]):
        names = set(metrics.loc[metrics["contrast"] == contrast, "metric"])
        regions = sorted({r for m in names if (r := region_metric(m)[1]) is not None},
                         key=_region_order)
        if not regions:
            continue
        tissues = [r for r in regions if r in TISSUES]
        structures = [r for r in regions if r not in TISSUES]
        for subset, tail in ((tissues, ""), (structures, ", structures")):
            for family, title, digits in (("Dice", "Dice", 3), ("AVD", "AVD %", 1)):
                labels = [*subset, "mean"] if (family == "Dice" and subset is tissues
                                               and "Dice" in names) else subset
                group = f"{title} ({contrast}{tail})"
                columns += [Column(group, label, _latex_escape(label),
                                   f"{contrast} {title} {label}", contrast,
                                   family if label == "mean" else f"{family}_{label}", digits)
                            for label in labels]
    return columns


def cost_columns(metrics: pd.DataFrame) -> list[Column]:
    """Fit wall time, CPU time and memory per subject; training time, CPU time and memory where
    a method trained; trained parameters, optimiser steps, epochs trained and why training
    stopped; the device. A column none of the records has (CPU time, training, parameters,
    steps, epochs) is left out."""
    present = set(metrics["metric"])
    columns = [("fit time (s)", "fit_seconds", 1, True), ("CPU time (s)", "cpu_seconds", 1, True),
               ("peak memory (MB)", "peak_memory_mb", 0, True),
               ("training (s)", "train_seconds", 1, True),
               ("training CPU time (s)", "train_cpu_seconds", 1, True),
               ("training peak memory (MB)", "train_peak_memory_mb", 0, True),
               ("parameters", "parameters", 0, False), ("steps", "steps", 0, False),
               ("epochs", "epochs", 1, True)]
    text = [Column("", "stopped by", "stopped by", "stopped by", COST, "stopped by", text=True)
            ] if "epochs" in present else []
    return [*(Column("", label, label, label, COST, metric, digits, spread=spread)
              for label, metric, digits, spread in columns
              if metric in present or metric in ("fit_seconds", "peak_memory_mb")),
            *text, Column("", "device", "device", "device", COST, "device", text=True)]


def _per_subject(metrics: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per subject: the mean over repeats, the std over repeats (ddof = 1, NaN for one) and the
    number of repeats of every value, indexed by subject with (method, contrast, metric) columns.
    """
    keys = ["method", "contrast", "metric"]
    grouped = metrics.groupby(["subject", *keys], sort=False)["value"]
    return tuple(statistic.unstack(keys) for statistic in
                 (grouped.mean(), grouped.std(ddof=1), grouped.size()))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of m p-values, in their order: the i-th smallest times
    (m - i + 1), never below the adjusted value of a smaller p-value, at most 1."""
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(sorted(range(len(p_values)), key=p_values.__getitem__)):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def paired_difference(values: np.ndarray, reference: np.ndarray
                      ) -> tuple[float, float, float] | None:
    """Mean paired difference ``values - reference`` over the subjects with both, and its
    ``CONFIDENCE`` t interval (mean ± t(n - 1) s / sqrt(n)); None below MIN_SUBJECTS_FOR_TEST
    pairs."""
    both = np.isfinite(values) & np.isfinite(reference)
    if both.sum() < MIN_SUBJECTS_FOR_TEST:
        return None
    differences = values[both] - reference[both]
    mean = float(differences.mean())
    half = float(student_t.ppf((1 + CONFIDENCE) / 2, differences.size - 1)
                 * differences.std(ddof=1) / math.sqrt(differences.size))
    return mean, mean - half, mean + half


def paired_p_value(values: np.ndarray, reference: np.ndarray) -> float | None:
    """Two-sided paired Wilcoxon signed-rank p-value, None below MIN_SUBJECTS_FOR_TEST pairs.

    Identical pairs (all differences zero) give 1.0.
    """
    both = np.isfinite(values) & np.isfinite(reference)
    if both.sum() < MIN_SUBJECTS_FOR_TEST:
        return None
    if np.all(values[both] == reference[both]):
        return 1.0
    return float(wilcoxon(values[both], reference[both]).pvalue)


def build_table(name: str, caption: str, metrics: pd.DataFrame, columns: list[Column],
                methods: list[str], reference: str | None, notes: dict[str, str] | None = None,
                text_cells: dict[str, dict[str, str]] | None = None,
                variants: dict[str, Variant] | None = None) -> Table:
    """Cells (mean ± std, p-value vs ``reference``, rank) of ``columns`` for ``methods``.

    ``reference`` None means no statistical test (e.g. the cost table). ``text_cells`` maps a text
    column's metric to {method: text}; ``variants`` says what each method's row is.
    """
    values, seed_stds, counts = _per_subject(metrics)
    present = ordered_methods(m for m in methods if m in set(metrics["method"]))
    cells: dict[tuple[str, int], Cell | str] = {}
    for index, column in enumerate(columns):
        if column.text:
            for method in present:
                cells[method, index] = (text_cells or {}).get(column.metric, {}).get(method, "–")
            continue
        tests = {}
        for method in present:
            key = (method, column.contrast, column.metric)
            if key not in values:
                continue
            series = values[key].to_numpy(dtype=float)
            base = (reference, column.contrast, column.metric)
            if reference is not None and method != reference and base in values:
                base_series = values[base].to_numpy(dtype=float)
                p_value = paired_p_value(series, base_series)
                if p_value is not None:
                    tests[method] = p_value, paired_difference(series, base_series)
            finite = series[np.isfinite(series)]
            seed_std = seed_stds[key].to_numpy(dtype=float)
            seed_std = seed_std[np.isfinite(seed_std)]
            cells[method, index] = Cell(
                float(finite.mean()) if finite.size else float("nan"),
                float(finite.std(ddof=1)) if finite.size > 1 else float("nan"),
                int(finite.size),
                seed_std=float(seed_std.mean()) if seed_std.size else float("nan"),
                repeats=int(counts[key].max()))
        adjusted = holm([p_value for p_value, _ in tests.values()])
        for (method, (p_value, difference)), p_holm in zip(tests.items(), adjusted, strict=True):
            cells[method, index] = replace(cells[method, index], p_value=p_value, p_holm=p_holm,
                                           difference=difference)
        _rank(cells, index, column, present)
    subjects = metrics.loc[metrics["subject"] != TRAINING, "subject"].nunique()
    repeats = int(metrics.groupby(["method", "subject", "contrast", "metric"]).size().max())
    footnotes = [f"Mean ± std over {subjects} subjects; best in bold, second underlined."]
    if repeats > 1:
        footnotes[0] = (f"Mean ± std over {subjects} subjects of the mean over {repeats} repeats "
                        "(seeds) of each fit, [seed std]: the mean over subjects of the std over "
                        "repeats; best in bold, second underlined.")
    if reference is not None:
        footnotes.append(
            f"p: two-sided paired Wilcoxon signed-rank test against {reference}, Holm-adjusted "
            "over the methods compared in each column (the CSV adds the unadjusted p and the "
            f"mean paired difference with its {CONFIDENCE:.0%} t interval)."
            if subjects >= MIN_SUBJECTS_FOR_TEST else
            f"p-values against {reference} need ≥ {MIN_SUBJECTS_FOR_TEST} subjects "
            f"(here {subjects}): not shown.")
    variants = {m: (variants or {}).get(m, Variant()) for m in present}
    footnotes += _variant_footnotes(variants)
    footnotes += [note for m in present if (note := method_note(m))]
    return Table(name, caption, columns, present, cells, dict(notes or {}), footnotes, variants)


def _variant_footnotes(variants: dict[str, Variant]) -> list[str]:
    """What the Degradation column means, the reduced budgets, and per row whose settings differ
    from its method's paper profile, those settings."""
    shown = list(variants.values())
    notes = []
    if any(v.knowledge in ("informed", "blind") for v in shown):
        notes.append("Degradation: informed = given the true degradation (the scenario's "
                     "acquisition operator, slice profile or PSF, or trained on LR images "
                     "simulated at the test acquisition); blind = not given it.")
    if any(v.reduced for v in shown):
        notes.append(f"{REDUCED_MARK} reduced budget: a smoke-test profile, with smaller "
                     "networks and far fewer training steps than the paper's.")
    notes += [f"{method_label(method)}, {variant.label}: differs from the paper profile in "
              + ", ".join(variant.differences) + "."
              for method, variant in variants.items() if variant.differences]
    notes += [f"{method_label(method)}: {variant.tuned}."
              for method, variant in variants.items() if variant.tuned]
    return notes


def _rank(cells: dict[tuple[str, int], Cell | str], index: int, column: Column,
          methods: list[str]) -> None:
    """Dense rank of the displayed means of one column (1 = best), stored in the cells."""
    if column.higher_is_better is None:
        return
    shown = {m: float(f"{c.mean:.{column.digits}f}") for m in methods
             if isinstance(c := cells.get((m, index)), Cell) and np.isfinite(c.mean)}
    distinct = sorted(set(shown.values()), reverse=column.higher_is_better)
    for method, value in shown.items():
        cell = cells[method, index]
        cells[method, index] = replace(cell, rank=distinct.index(value) + 1)


def _emphasis(rank: int | None, levels: int) -> str:
    """Bold for the best and underline for the second best of ``levels`` distinct values; the
    worst value is never emphasised (so two methods give one bold cell, ties tie)."""
    if rank == 1 and levels >= 2:
        return "bold"
    if rank == 2 and levels >= 3:
        return "underline"
    return ""


@dataclass(frozen=True)
class Markup:
    """How one output format writes escapes, ±, emphasis, p-values and the footnote mark."""

    escape: Callable[[str], str]
    pm: str
    bold: str
    underline: str
    p_value: str  # format string with {op} ('<' or '=') and {value}
    note_mark: str


MARKDOWN = Markup(lambda text: text, " ± ", "**{}**", "<ins>{}</ins>", " (p{op}{value})", "†")
LATEX = Markup(lambda text: _latex_escape(text), r" $\pm$ ", r"\textbf{{{}}}",
               r"\underline{{{}}}", r" {{\scriptsize ($p{{{op}}}{value}$)}}", r"$^\dagger$")
HTML = Markup(html.escape, " ± ", "<b>{}</b>", "<u>{}</u>", " <small>(p{op}{value})</small>",
              "†")


def _cell_text(table: Table, index: int, method: str, markup: Markup) -> str:
    """The text of one cell in the format of ``markup``."""
    column = table.columns[index]
    cell = table.cells.get((method, index))
    if isinstance(cell, str):
        return markup.escape(cell)
    if cell is None:
        return "–"
    if not np.isfinite(cell.mean):
        noted = region_metric(column.metric)[0] in table.notes
        return "n/a" + (markup.note_mark if noted else "")
    d = column.digits
    number = f"{cell.mean:.{d}f}" + (f"{markup.pm}{cell.std:.{d}f}"
                                     if column.spread and np.isfinite(cell.std) else "")
    if np.isfinite(cell.seed_std):
        number += f" [{cell.seed_std:.{d}f}]"
    levels = max((c.rank for (_, i), c in table.cells.items()
                  if i == index and isinstance(c, Cell) and c.rank is not None), default=0)
    style = _emphasis(cell.rank, levels)
    if style:
        number = (markup.bold if style == "bold" else markup.underline).format(number)
    if cell.p_holm is None:
        return number
    op, value = ("<", "0.001") if cell.p_holm < 0.001 else ("=", f"{cell.p_holm:.3f}")
    return number + markup.p_value.format(op=markup.escape(op), value=value)


def _footnotes(table: Table, markup: Markup) -> list[str]:
    """The table's footnotes, then one per metric shown as n/a with the reason it is missing."""
    shown = {region_metric(table.columns[i].metric)[0] for (_, i), cell in table.cells.items()
             if isinstance(cell, Cell) and not np.isfinite(cell.mean)}
    missing = [f"{markup.note_mark} " + markup.escape(f"{family} not computed: "
                                                      f"{table.notes[family]}")
               for family in sorted(shown & set(table.notes))]
    return [markup.escape(note) for note in table.footnotes] + missing


def _row_header(table: Table, method: str) -> list[str]:
    """A row's first cells: its method, its profile and its knowledge of the degradation."""
    variant = table.variants.get(method, Variant())
    return [method_label(method), variant.label, variant.knowledge]


def to_markdown(table: Table) -> str:
    """Markdown: the caption, a flat-header pipe table, then the footnotes."""
    header = [*ROW_HEADERS, *(c.header + c.arrows[0] for c in table.columns)]
    lines = [table.caption, "", "| " + " | ".join(header) + " |",
             "| " + " | ".join(["---"] * len(header)) + " |"]
    for method in table.methods:
        texts = [_cell_text(table, i, method, MARKDOWN) for i in range(len(table.columns))]
        lines.append("| " + " | ".join([*_row_header(table, method), *texts]) + " |")
    for note in _footnotes(table, MARKDOWN):
        lines += ["", note]
    return "\n".join(lines) + "\n"


def _groups(columns: list[Column]) -> list[tuple[str, int, int]]:
    """Consecutive runs of equal group names: (group, first column, last column), 1-based after
    the row headers."""
    runs: list[tuple[str, int, int]] = []
    for index, column in enumerate(columns, start=len(ROW_HEADERS) + 1):
        if runs and runs[-1][0] == column.group:
            runs[-1] = (column.group, runs[-1][1], index)
        else:
            runs.append((column.group, index, index))
    return runs


def to_latex(table: Table) -> str:
    """A booktabs ``table`` float (needs only \\usepackage{booktabs,graphicx})."""
    lines = [r"% Generated by isosr; needs \usepackage{booktabs,graphicx}.",
             r"\begin{table}[htbp]", r"\centering",
             rf"\caption{{{_latex_escape(table.caption)}}}",
             rf"\label{{tab:{table.name}}}", r"\small", r"\setlength{\tabcolsep}{3pt}",
             r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
             rf"\begin{{tabular}}{{{'l' * len(ROW_HEADERS)}{'c' * len(table.columns)}}}",
             r"\toprule"]
    groups = _groups(table.columns)
    if any(name for name, _, _ in groups):
        lines.append(" & ".join([""] * len(ROW_HEADERS) + [
            rf"\multicolumn{{{last - first + 1}}}{{c}}{{{_latex_escape(name)}}}"
            if last > first else _latex_escape(name) for name, first, last in groups]) + r" \\")
        lines.append(" ".join(rf"\cmidrule(lr){{{first}-{last}}}"
                              for name, first, last in groups if name))
    lines.append(" & ".join([*ROW_HEADERS, *(c.latex + c.arrows[1] for c in table.columns)])
                 + r" \\")
    lines.append(r"\midrule")
    for method in table.methods:
        texts = [_cell_text(table, i, method, LATEX) for i in range(len(table.columns))]
        lines.append(" & ".join([*map(_latex_escape, _row_header(table, method)), *texts])
                     + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}"]
    notes = _footnotes(table, LATEX)
    if notes:
        lines += [r"\par\smallskip", r"{\footnotesize " + r" \\ ".join(notes) + r"\par}"]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


HTML_STYLE = ("table{border-collapse:collapse;border-top:2px solid;border-bottom:2px solid;"
              "font:13px sans-serif}th,td{padding:2px 8px;text-align:center}"
              "td:first-child,th:first-child{text-align:left}"
              "thead tr:last-child th{border-bottom:1px solid}.group{border-bottom:1px solid}"
              "p{font:13px sans-serif}")


def to_html(table: Table) -> str:
    """A standalone HTML page (for the Snakemake report, which shows HTML inline)."""
    head = []
    groups = _groups(table.columns)
    if any(name for name, _, _ in groups):
        head.append("<tr>" + "<th></th>" * len(ROW_HEADERS) + "".join(
            f'<th colspan="{last - first + 1}"{" class=group" if name else ""}>'
            f"{html.escape(name)}</th>" for name, first, last in groups) + "</tr>")
    head.append("<tr>" + "".join(f"<th>{html.escape(name)}</th>" for name in ROW_HEADERS) + "".join(
        f"<th>{html.escape(c.label + c.arrows[0])}</th>" for c in table.columns) + "</tr>")
    body = ["<tr>" + "".join(f"<td>{html.escape(text)}</td>"
                             for text in _row_header(table, method)) + "".join(
        f"<td>{_cell_text(table, i, method, HTML)}</td>" for i in range(len(table.columns)))
        + "</tr>" for method in table.methods]
    notes = "".join(f"<p>{note}</p>" for note in _footnotes(table, HTML))
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{table.name}</title>'
            f"<style>{HTML_STYLE}</style></head><body>\n<p>{html.escape(table.caption)}</p>\n"
            f"<table><thead>{''.join(head)}</thead>\n<tbody>{''.join(body)}</tbody></table>\n"
            f"{notes}\n</body></html>\n")


def to_frame(table: Table) -> pd.DataFrame:
    """One row per method and column with full-precision numbers, for the CSV: what the row is
    (profile, knowledge, reduced), the cell, and against the reference the p-value, its Holm
    adjustment and the mean paired difference with its t interval (``difference_low/high``)."""
    rows = []
    for method in table.methods:
        variant = table.variants.get(method, Variant())
        for index, column in enumerate(table.columns):
            cell = table.cells.get((method, index))
            row = {"method": method, "profile": variant.profile, "knowledge": variant.knowledge,
                   "reduced": variant.reduced, "group": column.group, "column": column.header,
                   "contrast": column.contrast, "metric": column.metric}
            if isinstance(cell, Cell):
                row.update(mean=cell.mean, std=cell.std, n=cell.n, p_value=cell.p_value,
                           p_holm=cell.p_holm, rank=cell.rank, seed_std=cell.seed_std,
                           repeats=cell.repeats)
                if cell.difference is not None:
                    row.update(zip(("difference", "difference_low", "difference_high"),
                                   cell.difference, strict=True))
            elif isinstance(cell, str):
                row["text"] = cell
            rows.append(row)
    columns = ["method", "profile", "knowledge", "reduced", "group", "column", "contrast",
               "metric", "mean", "std", "n", "p_value", "p_holm", "difference", "difference_low",
               "difference_high", "rank", "seed_std", "repeats", "text"]
    return pd.DataFrame(rows).reindex(columns=columns)


def write_table(table: Table, csv: str | Path, markdown: str | Path, latex: str | Path,
                html_page: str | Path) -> None:
    """Write the CSV (full precision), Markdown, LaTeX and HTML renderings of ``table``."""
    Path(csv).parent.mkdir(parents=True, exist_ok=True)
    to_frame(table).to_csv(csv, index=False)
    Path(markdown).write_text(to_markdown(table))
    Path(latex).write_text(to_latex(table))
    Path(html_page).write_text(to_html(table))


_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                   "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                   "^": r"\textasciicircum{}", "±": r"$\pm$", "ε": r"$\epsilon$", "≥": r"$\geq$",
                   "–": "--", "†": r"$^\dagger$", "‡": r"$^\ddagger$",
                   "×": r"$\times$"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def write_benchmark_tables(*, metric_paths: Iterable[str | Path], fit_paths: Iterable[str | Path],
                           dataset: str, scenario: str, methods: list[str], reference: str,
                           caption: str, segmentation_backend: str, lpips_missing: str | None,
                           outputs: dict[str, dict[str, str | Path]],
                           train_paths: Iterable[str | Path] = ()) -> dict[str, Table]:
    """The quality, Dice and cost tables of one dataset x scenario, each in four formats.

    ``outputs`` maps 'quality', 'dice' and 'cost' to the keyword paths of ``write_table``;
    ``lpips_missing`` is why LPIPS weights are missing (the footnote of its n/a cells), if so.
    Every row's variant comes from its method's fit.json and train.json records.
    """
    metrics = read_metrics(metric_paths)
    fit_paths, train_paths = list(fit_paths), list(train_paths)
    records, text_cells = read_fit_records(fit_paths, dataset, scenario, train_paths)
    variants = read_variants([*fit_paths, *train_paths])
    segmented = ", ".join(ordered_contrasts(
        metrics.loc[metrics["metric"].map(lambda m: region_metric(m)[1] is not None),
                    "contrast"]))
    name = f"{dataset}-{scenario}"
    tables = {
        "quality": build_table(name, caption, metrics, quality_columns(metrics), methods,
                               reference, notes={"LPIPS": lpips_missing} if lpips_missing else {},
                               variants=variants),
        "dice": build_table(
            f"{name}-dice", f"{caption} Dice and absolute volume difference (AVD, % of the "
            f"ground-truth volume) between the {segmentation_backend} segmentations of each "
            f"prediction and of the ground truth ({segmented}).", metrics, dice_columns(metrics),
            methods, reference, variants=variants),
        "cost": build_table(
            f"{name}-cost", f"{caption} Cost of each fit: wall time, CPU time (user + system, "
            "where recorded), peak memory (RSS on the CPU, CUDA allocator peak on a GPU) and "
            "device; a cohort method's training once, on the training subjects; trained "
            "parameters and optimiser steps over all networks of the fit or training that "
            "learned them, and its epochs (mean over networks and subjects) with what stopped "
            "them: the MI rule, the equal-compute budget, or the configured epochs.", records,
            cost_columns(records), methods, None, text_cells=text_cells, variants=variants),
    }
    for key, table in tables.items():
        write_table(table, **outputs[key])
    return tables
