"""Snakemake script: the quality, Dice and cost tables of one dataset x scenario."""

from isosr.tables import write_benchmark_tables
from isosr.workflow import run_logged


def main() -> None:
    w, p, out = snakemake.wildcards, snakemake.params, snakemake.output
    outputs = {kind: {"csv": out[f"{kind}_csv"], "markdown": out[f"{kind}_md"],
                      "latex": out[f"{kind}_tex"], "html_page": out[f"{kind}_html"]}
               for kind in ("quality", "dice", "cost")}
    write_benchmark_tables(snakemake.input.metrics, snakemake.input.fits, w.dataset, w.scenario,
                           p.methods, p.reference, p.caption, p.segmentation_backend,
                           p.lpips_missing, outputs, train_paths=snakemake.input.trainings)


run_logged(snakemake.log[0], main)
