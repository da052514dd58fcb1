"""`isosr` command line: simulate, fit (super-resolve your own scans), evaluate without Snakemake.

Examples::

    isosr simulate --hr t1.nii.gz --view axial --thickness 4 --out t1_lr.nii.gz
    isosr fit --method cubic --lr T1w=t1_ax.nii.gz --lr FLAIR=flair_cor.nii.gz \\
        --resolution 1.0 --out-dir sr/
    isosr evaluate --truth T1w=t1.nii.gz --prediction T1w=sr/T1w.nii.gz --mask brain.nii.gz \\
        --out metrics.tsv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from isosr.evaluate import evaluate_subject
from isosr.fit import run_fit
from isosr.io import InputError, LRImage, isotropic_grid, load_nifti, save_nifti
from isosr.simulate import MODELS, VIEW_WORLD_AXIS, Acquisition, simulate_lr


def _pairs(values: list[str], option: str) -> dict[str, str]:
    """Parse repeated NAME=VALUE options."""
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise InputError(f"{option} expects NAME=VALUE, got {value!r}")
        pairs[name] = rest
    return pairs


def _simulate(args: argparse.Namespace) -> None:
    hr, affine = load_nifti(args.hr)
    lr, lr_affine = simulate_lr(hr, affine, Acquisition(args.view, args.thickness, args.model,
                                                        args.noise), seed=args.seed)
    save_nifti(args.out, lr, lr_affine)


def _fit(args: argparse.Namespace) -> None:
    lr_paths = _pairs(args.lr, "--lr")
    images = {c: LRImage(*load_nifti(p)) for c, p in lr_paths.items()}
    out_dir = Path(args.out_dir)
    if args.mask:
        mask_path = args.mask
    else:
        grid = isotropic_grid(list(images.values()), args.resolution)
        mask_path = out_dir / "grid_mask.nii.gz"
        save_nifti(mask_path, np.ones(grid.shape, np.uint8), grid.affine, dtype=np.uint8)
    acquisitions = {c: {"view": _view_of(image), "thickness": float(max(_spacing(image)))}
                    for c, image in images.items()}
    params = {k: _json_or_text(v) for k, v in _pairs(args.param, "--param").items()}
    record = run_fit(args.method, params, lr_paths, acquisitions, mask_path,
                     {c: out_dir / f"{c}.nii.gz" for c in lr_paths}, out_dir / "fit.json",
                     seed=args.seed,
                     checkpoint_dir=args.checkpoint_dir or out_dir / "checkpoint")
    print(f"{args.method}: {record['wall_seconds']:.1f} s on {record['device']}, "
          f"outputs in {out_dir}")


def _json_or_text(value: str) -> object:
    """A --param value: JSON (numbers, lists, true/false) or else the plain text."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _spacing(image: LRImage) -> np.ndarray:
    return np.linalg.norm(image.affine[:3, :3], axis=0)


def _view_of(image: LRImage) -> str:
    """The view whose slice normal is the LR image's thickest axis."""
    thick_axis = int(np.argmax(_spacing(image)))
    direction = np.abs(image.affine[:3, thick_axis])
    return {axis: view for view, axis in VIEW_WORLD_AXIS.items()}[int(np.argmax(direction))]


def _evaluate(args: argparse.Namespace) -> None:
    frame = evaluate_subject(_pairs(args.truth, "--truth"), _pairs(args.prediction, "--prediction"),
                             args.mask, {"dataset": "-", "scenario": "-", "method": args.method,
                                         "subject": args.subject})
    frame.to_csv(args.out, sep="\t", index=False)
    print(frame.to_string(index=False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="isosr", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    simulate = commands.add_parser("simulate", help="simulate a thick-slice LR scan")
    simulate.add_argument("--hr", required=True, help="isotropic HR NIfTI")
    simulate.add_argument("--view", required=True, choices=sorted(VIEW_WORLD_AXIS))
    simulate.add_argument("--thickness", required=True, type=float, help="slice thickness (mm)")
    simulate.add_argument("--model", default="slice-profile", choices=MODELS)
    simulate.add_argument("--noise", default=0.0, type=float, help="Rician noise sigma")
    simulate.add_argument("--seed", default=0, type=int)
    simulate.add_argument("--out", required=True)
    simulate.set_defaults(run=_simulate)

    fit = commands.add_parser("fit", help="super-resolve LR scans of one subject")
    fit.add_argument("--method", required=True, help="registered method name, e.g. cubic")
    fit.add_argument("--lr", action="append", required=True, help="CONTRAST=path (repeat)")
    fit.add_argument("--mask", help="brain mask on the HR output grid (defines the grid)")
    fit.add_argument("--resolution", type=float, default=1.0,
                     help="isotropic output spacing (mm) when no --mask is given")
    fit.add_argument("--param", action="append", default=[],
                     help="NAME=VALUE hyper-parameter (JSON or text)")
    fit.add_argument("--seed", default=0, type=int)
    fit.add_argument("--out-dir", required=True)
    fit.add_argument("--checkpoint-dir",
                     help="per-epoch checkpoints of a training method, resumed when the same fit "
                          "is run again after being killed; removed once it finishes "
                          "(default: OUT_DIR/checkpoint)")
    fit.set_defaults(run=_fit)

    evaluate = commands.add_parser("evaluate", help="PSNR, SSIM and MI errors against HR truth")
    evaluate.add_argument("--truth", action="append", required=True, help="CONTRAST=path")
    evaluate.add_argument("--prediction", action="append", required=True, help="CONTRAST=path")
    evaluate.add_argument("--mask", required=True)
    evaluate.add_argument("--method", default="-")
    evaluate.add_argument("--subject", default="-")
    evaluate.add_argument("--out", required=True)
    evaluate.set_defaults(run=_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except InputError as error:
        print(f"isosr error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
