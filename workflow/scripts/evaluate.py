"""Snakemake script: the evaluation of one subject's fits of a scenario, method by method: the
tissue labels of each prediction (the segmented contrast, with the class model of the subject's
ground truth), then the metrics of every method on the subject as one long TSV. Segmentation and
metrics log to their own files."""

from pathlib import Path

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.evaluate import evaluate_subject
from isosr.lpips_weights import LpipsWeights
from isosr.repeats import repeat_index
from isosr.results import write_metrics
from isosr.segment import segment_file
from isosr.workflow import run_logged

CONTRASTS = snakemake.params.contrasts
METHODS = snakemake.params.methods
PREDICTIONS = {  # method -> contrast -> path (the input is method-major)
    method: dict(zip(CONTRASTS, snakemake.input.prediction[i * len(CONTRASTS):
                                                          (i + 1) * len(CONTRASTS)],
                     strict=True))
    for i, method in enumerate(METHODS)
}


def segment() -> None:
    for method, labels, sidecar in zip(METHODS, snakemake.output.labels,
                                       snakemake.output.sidecars, strict=True):
        print(f"labelling the prediction of {method}", flush=True)
        segment_file(PREDICTIONS[method][snakemake.params.segmented], snakemake.input.mask,
                     snakemake.params.segmented, snakemake.params.settings, labels, sidecar,
                     truth_sidecar=snakemake.input.truth_sidecar)


def evaluate() -> None:
    w = snakemake.wildcards
    weights = {key: path and Path(path) for key, path in snakemake.params.lpips_weights.items()}
    frames = []
    for method, labels in zip(METHODS, snakemake.output.labels, strict=True):
        print(f"scoring {method}", flush=True)
        frames.append(evaluate_subject(
            truth_paths=dict(zip(CONTRASTS, snakemake.input.truth, strict=True)),
            prediction_paths=PREDICTIONS[method],
            mask_path=snakemake.input.mask,
            ids={"dataset": w.dataset, "scenario": w.scenario, "method": method,
                 "subject": w.s, "repeat": repeat_index(w.rep)},
            segmentations=(snakemake.input.truth_labels, labels),
            lpips_weights=LpipsWeights(weights["alexnet"], weights["linear"]),
            convention=snakemake.params.convention,
            lr={c: (path, snakemake.params.acquisitions[c])
                for c, path in zip(CONTRASTS, snakemake.input.lr, strict=True)}))
    write_metrics(frames, snakemake.output.metrics)


run_logged(snakemake.log.segment, segment)
run_logged(snakemake.log.evaluate, evaluate)
