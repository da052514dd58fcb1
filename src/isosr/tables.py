"""Paper tables from the per-subject metrics: CSV (full precision), Markdown, LaTeX (booktabs)
and HTML (for the Snakemake report, which shows HTML inline).

Three tables per dataset x scenario:

- quality (the layout of McGinnis et al. 2023, Table 1): rows = methods, a column group per
  contrast with PSNR, SSIM and LPIPS, then a group with eps_MI per contrast and joint;
- Dice: Dice and absolute volume difference per tissue class (and per structure, FastSurfer);
- cost: fit time, peak memory and device, from every fit.json.

With ``repeats`` (several seeds per fit), each subject's value is first averaged over its
repeats. Cells are mean ± std over subjects of these per-subject means (std with ddof = 1) and,
with more than one repeat, the seed std in brackets: the mean over subjects of the per-subject
std over repeats (ddof = 1), i.e. how much one fit moves with its initialisation. Per column the
best mean is bold and the second best underlined (means compared as displayed, so equal-looking
values tie; the worst value is never emphasised). Against the reference method, each method gets
the p-value of a two-sided paired Wilcoxon signed-rank test over subjects of the per-subject means
(scipy), shown only when at least ``MIN_SUBJECTS_FOR_TEST`` subjects have both values. A metric
that is missing for every subject shows "n/a" and, when a note explains why (e.g. no LPIPS
weights), a footnote.

The LaTeX file is a ``table`` float that needs only ``\\usepackage{booktabs,graphicx}``: \\input it
into a paper, or wrap it in a minimal document to compile it on its own (tests do both). A table
wider than the text is scaled down to the text width (never up).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from isosr.methods import method_names, method_spec
from isosr.repeats import split_repeat
from isosr.results import METRIC_COLUMNS, read_metrics, region_metric
from isosr.segment import STRUCTURES
from isosr.vocabulary import CONTRASTS, TISSUES

# The long format of every metrics TSV (written by isosr.evaluate): one row per value; 'repeat'
# is the repeat index of the fit (0 without repeats).
HIGHER_IS_BETTER = {"PSNR": True, "SSIM": True, "LPIPS": False, "eps_MI": False, "Dice": True,
                    "AVD": False, "fit_seconds": False, "peak_memory_mb": False,
                    "train_seconds": False, "train_peak_memory_mb": False}
QUALITY_METRICS = ("PSNR", "SSIM", "LPIPS")
TRAINING = "train"  # pseudo-subject of a cohort method's training cost
MIN_SUBJECTS_FOR_TEST = 5
COST = "all"  # contrast value of the cost rows (fit.json is per method and subject)
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
    its p-value and its rank (1 = best); ``n`` subjects, up to ``repeats`` repeats each."""

    mean: float
    std: float
    n: int
    p_value: float | None = None
    rank: int | None = None
    seed_std: float = float("nan")
    repeats: int = 1


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


def read_fit_records(paths: Iterable[str | Path], dataset: str, scenario: str,
                     train_paths: Iterable[str | Path] = ()) -> tuple[pd.DataFrame, dict[str, str]]:
    """Fit cost of every fit.json, and training cost of every train.json (cohort methods), as
    metric rows (contrast 'all'), and the devices per method.

    The subject and repeat are read from the ``sub-<label>[_rep-<r>]`` folder of each fit.json; a
    training's rows belong to the pseudo-subject 'train', so only the training columns average
    them.
    """
    rows, devices = [], {}
    for path, prefix in [*((p, "fit") for p in paths), *((p, "train") for p in train_paths)]:
        record = json.loads(Path(path).read_text())
        folder, repeat = split_repeat(Path(path).parent.name)
        subject = TRAINING if prefix == "train" else folder.removeprefix("sub-")
        method = record["method"]
        devices.setdefault(method, set()).add(record["device"])
        rows += [(dataset, scenario, method, subject, repeat, COST, metric, float(record[key]))
                 for metric, key in ((f"{prefix}_seconds", "wall_seconds"),
                                     ("peak_memory_mb" if prefix == "fit"
                                      else "train_peak_memory_mb", "peak_memory_mb"))]
    frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    return frame, {method: ", ".join(sorted(names)) for method, names in devices.items()}


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
    """Fit time and memory per subject; training time and memory where a method trained."""
    training = [Column("", "training (s)", "training (s)", "training (s)", COST,
                       "train_seconds", 1),
                Column("", "training peak memory (MB)", "training peak memory (MB)",
                       "training peak memory (MB)", COST, "train_peak_memory_mb", 0)]
    return [Column("", "fit time (s)", "fit time (s)", "fit time (s)", COST, "fit_seconds", 1),
            Column("", "peak memory (MB)", "peak memory (MB)", "peak memory (MB)", COST,
                   "peak_memory_mb", 0),
            *(training if (metrics["metric"] == "train_seconds").any() else []),
            Column("", "device", "device", "device", COST, "device", text=True)]


def _per_subject(metrics: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per subject: the mean over repeats, the std over repeats (ddof = 1, NaN for one) and the
    number of repeats of every value, indexed by subject with (method, contrast, metric) columns.
    """
    keys = ["method", "contrast", "metric"]
    grouped = metrics.groupby(["subject", *keys], sort=False)["value"]
    return tuple(statistic.unstack(keys) for statistic in
                 (grouped.mean(), grouped.std(ddof=1), grouped.size()))


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
                text_cells: dict[str, dict[str, str]] | None = None) -> Table:
    """Cells (mean ± std, p-value vs ``reference``, rank) of ``columns`` for ``methods``.

    ``reference`` None means no statistical test (e.g. the cost table). ``text_cells`` maps a text
    column's metric to {method: text}.
    """
    values, seed_stds, counts = _per_subject(metrics)
    present = ordered_methods(m for m in methods if m in set(metrics["method"]))
    cells: dict[tuple[str, int], Cell | str] = {}
    for index, column in enumerate(columns):
        if column.text:
            for method in present:
                cells[method, index] = (text_cells or {}).get(column.metric, {}).get(method, "–")
            continue
        for method in present:
            key = (method, column.contrast, column.metric)
            if key not in values:
                continue
            series = values[key].to_numpy(dtype=float)
            p_value = None
            if reference is not None and method != reference \
                    and (reference, column.contrast, column.metric) in values:
                p_value = paired_p_value(series, values[reference, column.contrast,
                                                        column.metric].to_numpy(dtype=float))
            finite = series[np.isfinite(series)]
            seed_std = seed_stds[key].to_numpy(dtype=float)
            seed_std = seed_std[np.isfinite(seed_std)]
            cells[method, index] = Cell(
                float(finite.mean()) if finite.size else float("nan"),
                float(finite.std(ddof=1)) if finite.size > 1 else float("nan"),
                int(finite.size), p_value,
                seed_std=float(seed_std.mean()) if seed_std.size else float("nan"),
                repeats=int(counts[key].max()))
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
            f"p: two-sided paired Wilcoxon signed-rank test against {reference}."
            if subjects >= MIN_SUBJECTS_FOR_TEST else
            f"p-values against {reference} need ≥ {MIN_SUBJECTS_FOR_TEST} subjects "
            f"(here {subjects}): not shown.")
    footnotes += [note for m in present if (note := method_note(m))]
    return Table(name, caption, columns, present, cells, dict(notes or {}), footnotes)


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
                                     if np.isfinite(cell.std) else "")
    if np.isfinite(cell.seed_std):
        number += f" [{cell.seed_std:.{d}f}]"
    levels = max((c.rank for (_, i), c in table.cells.items()
                  if i == index and isinstance(c, Cell) and c.rank is not None), default=0)
    style = _emphasis(cell.rank, levels)
    if style:
        number = (markup.bold if style == "bold" else markup.underline).format(number)
    if cell.p_value is None:
        return number
    op, value = ("<", "0.001") if cell.p_value < 0.001 else ("=", f"{cell.p_value:.3f}")
    return number + markup.p_value.format(op=markup.escape(op), value=value)


def _footnotes(table: Table, markup: Markup) -> list[str]:
    """The table's footnotes, then one per metric shown as n/a with the reason it is missing."""
    shown = {region_metric(table.columns[i].metric)[0] for (_, i), cell in table.cells.items()
             if isinstance(cell, Cell) and not np.isfinite(cell.mean)}
    missing = [f"{markup.note_mark} " + markup.escape(f"{family} not computed: "
                                                      f"{table.notes[family]}")
               for family in sorted(shown & set(table.notes))]
    return [markup.escape(note) for note in table.footnotes] + missing


def to_markdown(table: Table) -> str:
    """Markdown: the caption, a flat-header pipe table, then the footnotes."""
    header = ["Method"] + [c.header + c.arrows[0] for c in table.columns]
    lines = [table.caption, "", "| " + " | ".join(header) + " |",
             "| " + " | ".join(["---"] * len(header)) + " |"]
    for method in table.methods:
        texts = [_cell_text(table, i, method, MARKDOWN) for i in range(len(table.columns))]
        lines.append("| " + " | ".join([method_label(method), *texts]) + " |")
    for note in _footnotes(table, MARKDOWN):
        lines += ["", note]
    return "\n".join(lines) + "\n"


def _groups(columns: list[Column]) -> list[tuple[str, int, int]]:
    """Consecutive runs of equal group names: (group, first column, last column), 1-based + 1."""
    runs: list[tuple[str, int, int]] = []
    for index, column in enumerate(columns, start=2):
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
             rf"\begin{{tabular}}{{l{'c' * len(table.columns)}}}", r"\toprule"]
    groups = _groups(table.columns)
    if any(name for name, _, _ in groups):
        lines.append(" & ".join([""] + [
            rf"\multicolumn{{{last - first + 1}}}{{c}}{{{_latex_escape(name)}}}"
            if last > first else _latex_escape(name) for name, first, last in groups]) + r" \\")
        lines.append(" ".join(rf"\cmidrule(lr){{{first}-{last}}}"
                              for name, first, last in groups if name))
    lines.append(" & ".join(["Method"] + [c.latex + c.arrows[1] for c in table.columns])
                 + r" \\")
    lines.append(r"\midrule")
    for method in table.methods:
        texts = [_cell_text(table, i, method, LATEX) for i in range(len(table.columns))]
        lines.append(" & ".join([_latex_escape(method_label(method)), *texts]) + r" \\")
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
        head.append("<tr><th></th>" + "".join(
            f'<th colspan="{last - first + 1}"{" class=group" if name else ""}>'
            f"{html.escape(name)}</th>" for name, first, last in groups) + "</tr>")
    head.append("<tr><th>Method</th>" + "".join(
        f"<th>{html.escape(c.label + c.arrows[0])}</th>" for c in table.columns) + "</tr>")
    body = ["<tr><td>" + html.escape(method_label(method)) + "</td>" + "".join(
        f"<td>{_cell_text(table, i, method, HTML)}</td>" for i in range(len(table.columns)))
        + "</tr>" for method in table.methods]
    notes = "".join(f"<p>{note}</p>" for note in _footnotes(table, HTML))
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{table.name}</title>'
            f"<style>{HTML_STYLE}</style></head><body>\n<p>{html.escape(table.caption)}</p>\n"
            f"<table><thead>{''.join(head)}</thead>\n<tbody>{''.join(body)}</tbody></table>\n"
            f"{notes}\n</body></html>\n")


def to_frame(table: Table) -> pd.DataFrame:
    """One row per method and column with full-precision numbers, for the CSV."""
    rows = []
    for method in table.methods:
        for index, column in enumerate(table.columns):
            cell = table.cells.get((method, index))
            row = {"method": method, "group": column.group, "column": column.header,
                   "contrast": column.contrast, "metric": column.metric}
            if isinstance(cell, Cell):
                row.update(mean=cell.mean, std=cell.std, n=cell.n, p_value=cell.p_value,
                           rank=cell.rank, seed_std=cell.seed_std, repeats=cell.repeats)
            elif isinstance(cell, str):
                row["text"] = cell
            rows.append(row)
    columns = ["method", "group", "column", "contrast", "metric", "mean", "std", "n",
               "p_value", "rank", "seed_std", "repeats", "text"]
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
                   "–": "--", "†": r"$^\dagger$", "×": r"$\times$"}


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
    """
    metrics = read_metrics(metric_paths)
    records, devices = read_fit_records(fit_paths, dataset, scenario, train_paths)
    segmented = ", ".join(ordered_contrasts(
        metrics.loc[metrics["metric"].map(lambda m: region_metric(m)[1] is not None),
                    "contrast"]))
    name = f"{dataset}-{scenario}"
    tables = {
        "quality": build_table(name, caption, metrics, quality_columns(metrics), methods,
                               reference, notes={"LPIPS": lpips_missing} if lpips_missing else {}),
        "dice": build_table(
            f"{name}-dice", f"{caption} Dice and absolute volume difference (AVD, % of the "
            f"ground-truth volume) between the {segmentation_backend} segmentations of each "
            f"prediction and of the ground truth ({segmented}).", metrics, dice_columns(metrics),
            methods, reference),
        "cost": build_table(
            f"{name}-cost", f"{caption} Cost of each fit: wall time, peak memory (RSS on the CPU, "
            "CUDA allocator peak on a GPU) and device; a cohort method's training once, on the "
            "training subjects.", records, cost_columns(records), methods, None,
            text_cells={"device": devices}),
    }
    for key, table in tables.items():
        write_table(table, **outputs[key])
    return tables
