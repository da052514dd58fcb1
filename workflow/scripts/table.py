"""Snakemake script: the quality, Dice and cost tables of one dataset x scenario."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.tables import write_benchmark_tables
from isosr.workflow import run_logged


def main() -> None:
    w, p, out = snakemake.wildcards, snakemake.params, snakemake.output
    outputs = {kind: {"csv": out[f"{kind}_csv"], "markdown": out[f"{kind}_md"],
                      "latex": out[f"{kind}_tex"], "html_page": out[f"{kind}_html"]}
               for kind in ("quality", "dice", "cost")}
    write_benchmark_tables(metric_paths=snakemake.input.metrics, fit_paths=snakemake.input.fits,
                           dataset=w.dataset, scenario=w.scenario, methods=p.methods,
                           reference=p.reference, caption=p.caption,
                           segmentation_backend=p.segmentation_backend,
                           lpips_missing=p.lpips_missing, outputs=outputs,
                           train_paths=snakemake.input.trainings)


run_logged(snakemake.log[0], main)
