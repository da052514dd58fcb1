"""Snakemake script: one fit's evaluation: the tissue labels of its prediction (the segmented
contrast, with the class model of the subject's ground truth), then the metrics of the method on
the subject as a long TSV. Each step logs to its own file."""

from pathlib import Path

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.evaluate import evaluate_subject
from isosr.lpips_weights import LpipsWeights
from isosr.repeats import repeat_index
from isosr.results import write_metrics
from isosr.segment import segment_file
from isosr.workflow import run_logged


def segment() -> None:
    segmented = snakemake.params.segmented
    predictions = dict(zip(snakemake.params.contrasts, snakemake.input.prediction, strict=True))
    segment_file(predictions[segmented], snakemake.input.mask, segmented,
                 snakemake.params.settings, snakemake.output.labels, snakemake.output.sidecar,
                 truth_sidecar=snakemake.input.truth_sidecar)


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
                                            snakemake.output.labels),
                             lpips_weights=LpipsWeights(weights["alexnet"], weights["linear"]),
                             convention=snakemake.params.convention,
                             lr={c: (path, snakemake.params.acquisitions[c]) for c, path
                                 in zip(contrasts, snakemake.input.lr, strict=True)})
    write_metrics(frame, snakemake.output.metrics)


run_logged(snakemake.log.segment, segment)
run_logged(snakemake.log.evaluate, main)
