"""Snakemake script: metrics of one method on one subject, as a long TSV."""

from pathlib import Path

from isosr.evaluate import evaluate_subject
from isosr.lpips_weights import LpipsWeights
from isosr.repeats import repeat_index
from isosr.results import write_metrics
from isosr.workflow import run_logged


def main() -> None:
    contrasts = snakemake.params.contrasts
    w = snakemake.wildcards
    weights = {key: path and Path(path) for key, path in snakemake.params.lpips_weights.items()}
    frame = evaluate_subject(truth_paths=dict(zip(contrasts, snakemake.input.truth, strict=True)),
                             prediction_paths=dict(zip(contrasts, snakemake.input.prediction,
                                                       strict=True)),
                             mask_path=snakemake.input.mask,
                             ids={"dataset": w.dataset, "scenario": w.scenario, "method": w.method,
                              "subject": w.s, "repeat": repeat_index(w.rep)},
                             segmentations=(snakemake.input.truth_labels,
                                            snakemake.input.prediction_labels),
                             lpips_weights=LpipsWeights(weights["alexnet"], weights["linear"]))
    write_metrics(frame, snakemake.output[0])


run_logged(snakemake.log[0], main)
