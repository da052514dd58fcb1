"""`isosr` command line: simulate, fit (super-resolve your own scans), evaluate without Snakemake.

Examples::

    isosr simulate --hr t1.nii.gz --view axial --thickness 4 --out t1_lr.nii.gz
    isosr fit --method cubic --lr T1w=t1_ax.nii.gz --lr FLAIR=flair_cor.nii.gz \\
        --resolution 1.0 --out-dir sr/
    isosr evaluate --truth T1w=t1.nii.gz --prediction T1w=sr/T1w.nii.gz --mask brain.nii.gz \\
        --out metrics.tsv

Every error is one line naming the file or option, with exit status 1 (2 for a malformed
command line); ``--debug`` adds the traceback. A command never writes onto one of its inputs and
never replaces an earlier result unless ``--overwrite`` is given. ``fit`` writes its result (the
images and fit.json) into a hidden folder beside ``--out-dir`` and moves it into place, so the
result appears whole or not at all; ``--overwrite`` replaces only the files of the earlier isosr
result (those its fit.json lists) and keeps anything else in the folder. While a fit runs it holds
a lock on ``--out-dir`` (a hidden ``.OUT_DIR.lock`` beside it): a second fit into the same folder
fails at once, naming the first one's pid. Checkpoints go into a folder isosr creates and marks
as its own (``isosr.checkpoint_dir``); an existing folder that is not one is refused.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

from isosr.checkpoint_dir import check_checkpoint_dir
from isosr.evaluate import METRIC_CONVENTIONS, evaluate_subject
from isosr.fit import run_fit
from isosr.io import (
    NIFTI_SUFFIXES,
    Grid,
    InputError,
    LRImage,
    check_field_of_view,
    check_grid_size,
    isotropic_grid,
    load_nifti,
    save_json,
    save_nifti,
    save_text,
)
from isosr.methods import method_spec
from isosr.outputs import FIT_RECORD, check_out_dir, check_out_file, exclusive, result_folder
from isosr.simulate import MODELS, Acquisition, simulate_lr
from isosr.threads import limit_threads
from isosr.vocabulary import VIEW_WORLD_AXIS

LOG = logging.getLogger(__name__)
GRID_MASK = "grid_mask.nii.gz"  # the HR grid of a fit without --mask, in its result
CONTRAST_NAME = re.compile(r"[A-Za-z0-9]+")


def _pairs(values: list[str], option: str, names: re.Pattern[str] | None = None
           ) -> dict[str, str]:
    """Parse repeated NAME=VALUE options (each NAME once, matching ``names`` if given)."""
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise InputError(f"{option} expects NAME=VALUE, got {value!r}")
        if names is not None and not names.fullmatch(name):
            raise InputError(f"{option} {value}: the name must be letters and digits only "
                             f"(e.g. T1w), got {name!r}")
        if name in pairs:
            raise InputError(f"{option} {value}: {name} is given twice")
        pairs[name] = rest
    return pairs


def _simulate(args: argparse.Namespace) -> None:
    out = Path(args.out)
    check_out_file(out, {"--hr": Path(args.hr)}, args.overwrite, NIFTI_SUFFIXES)
    hr, affine = load_nifti(args.hr)
    peak = float(np.abs(hr).max())
    if args.noise > peak:  # an SNR below 1 everywhere, and a sigma that can overflow float32
        raise InputError(f"--noise {args.noise:g}: above the largest intensity of {args.hr} "
                         f"({peak:.3g}); sigma is in the image's intensity units (e.g. 0.02 for "
                         "an image in [0, 1])")
    try:
        lr, lr_affine = simulate_lr(hr, affine, Acquisition(args.view, args.thickness,
                                                            args.model, args.noise),
                                    seed=args.seed)
    except InputError as error:
        raise InputError(f"{args.hr}: {error}") from error
    save_nifti(out, lr, lr_affine)


def _fit(args: argparse.Namespace) -> None:
    lr_paths = _pairs(args.lr, "--lr", CONTRAST_NAME)
    params = {k: _json_or_text(k, v) for k, v in _pairs(args.param, "--param").items()}
    out_dir = Path(args.out_dir)
    inputs = {f"--lr {c}": Path(p) for c, p in lr_paths.items()}
    if args.mask:
        inputs["--mask"] = Path(args.mask)
    writes = {f"{c}.nii.gz" for c in lr_paths} | {FIT_RECORD} | (set() if args.mask
                                                                  else {GRID_MASK})
    check_out_dir(out_dir, inputs, args.overwrite, writes)
    checkpoint_dir = Path(args.checkpoint_dir or default_checkpoint_dir(out_dir))
    check_checkpoint_dir(checkpoint_dir, "--checkpoint-dir")
    if args.threads:
        limit_threads(args.threads)  # before PyTorch is imported (the method's implementation)
    # the implementation (and PyTorch) is imported before anything is written, so a Ctrl-C in
    # that import leaves nothing to clean up
    method_spec(args.method).load()
    with ExitStack() as held:  # a concurrent run into the same folders fails here, at once
        held.enter_context(exclusive(out_dir, "--out-dir"))
        if args.checkpoint_dir:
            held.enter_context(exclusive(checkpoint_dir, "--checkpoint-dir"))
        replaced = check_out_dir(out_dir, inputs, args.overwrite, writes)  # again, now ours
        images = {c: LRImage(*load_nifti(p)) for c, p in lr_paths.items()}
        grid = None if args.mask else _grid_over_scans(images, lr_paths, args.resolution)
        acquisitions = {c: {"view": _view_of(image), "thickness": float(max(_spacing(image)))}
                        for c, image in images.items()}
        with result_folder(out_dir, replaced) as staging:
            if grid is None:
                mask_path = args.mask
            else:
                mask_path = staging / GRID_MASK
                save_nifti(mask_path, np.ones(grid.shape, np.uint8), grid.affine, dtype=np.uint8)
            record = run_fit(method=args.method, params=params, lr_paths=lr_paths,
                             acquisitions=acquisitions, mask_path=mask_path,
                             output_paths={c: staging / f"{c}.nii.gz" for c in lr_paths},
                             fit_json=staging / FIT_RECORD, seed=args.seed,
                             threads=args.threads, checkpoint_dir=checkpoint_dir)
            written = sorted(p.name for p in staging.iterdir())
            save_json(staging / FIT_RECORD, {**record, "result_files": written})
    print(f"{args.method}: {record['wall_seconds']:.1f} s on {record['device']}, "
          f"outputs in {out_dir}")
    if replaced:
        kept = sorted(p.name for p in out_dir.iterdir() if p.name not in written)
        print(f"replaced the earlier result in {out_dir} ({', '.join(replaced)})"
              + (f"; kept what isosr did not write: {', '.join(kept)}" if kept else ""))


def _grid_over_scans(images: dict[str, LRImage], paths: dict[str, str], resolution: float
                     ) -> Grid:
    """The isotropic grid over every scan (no --mask): each scan must image at least half of
    it, and it must be small enough to allocate."""
    grid = isotropic_grid(list(images.values()), resolution)
    for contrast, image in images.items():
        check_field_of_view(paths[contrast], image.data.shape, image.affine, grid)
    try:
        check_grid_size(grid.shape, resolution)
    except InputError as error:
        raise InputError(f"--resolution {resolution:g}: {error}") from None
    return grid


def default_checkpoint_dir(out_dir: Path) -> Path:
    """Beside the out-dir, not in it: a killed fit leaves the out-dir as it was."""
    return out_dir.parent / f".{out_dir.name}.checkpoint"


def _json_or_text(name: str, value: str) -> object:
    """A --param value: JSON (numbers, lists, true/false) or else the plain text; any number in
    it must be finite (JSON's NaN, Infinity and 1e999 are refused)."""

    def finite(text: str) -> float:
        number = float(text)
        if not np.isfinite(number):
            raise InputError(f"--param {name}={value}: {text} is not a finite number")
        return number

    try:
        return json.loads(value, parse_float=finite, parse_constant=finite)
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
    truths = _pairs(args.truth, "--truth", CONTRAST_NAME)
    predictions = _pairs(args.prediction, "--prediction", CONTRAST_NAME)
    out = Path(args.out)
    check_out_file(out, {"--mask": Path(args.mask),
                          **{f"--truth {c}": Path(p) for c, p in truths.items()},
                          **{f"--prediction {c}": Path(p) for c, p in predictions.items()}},
                    args.overwrite, (".tsv",))
    frame = evaluate_subject(truth_paths=truths, prediction_paths=predictions,
                             mask_path=args.mask,
                             ids={"dataset": "-", "scenario": "-", "method": args.method,
                                  "subject": args.subject}, convention=args.convention)
    save_text(out, frame.to_csv(sep="\t", index=False))
    print(frame.to_string(index=False))


def _number(check: str) -> Callable[[str], float]:
    """An argparse type: a finite float that is positive (``check`` "positive") or >= 0."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not np.isfinite(value) or value < 0 or (check == "positive" and value == 0):
            raise argparse.ArgumentTypeError(f"expected a {check} finite number, got {text!r}")
        return value

    return parse


def _positive_integer(text: str) -> int:
    """An argparse type: an integer >= 1."""
    if not re.fullmatch(r"[0-9]+", text.strip()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return int(text)


def _seed(text: str) -> int:
    """An argparse type: an integer seed >= 0."""
    if not re.fullmatch(r"[0-9]+", text.strip()):
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return int(text)


class _OneLineErrors(argparse.ArgumentParser):
    """argparse whose usage errors are one line: 'isosr error: <what> (see <command> --help)'."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"isosr error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(prog="isosr", description=__doc__.split("\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true",
                        help="log debugging detail, and the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True)

    simulate = commands.add_parser("simulate", parents=[common],
                                   help="simulate a thick-slice LR scan")
    simulate.add_argument("--hr", required=True, help="isotropic HR NIfTI")
    simulate.add_argument("--view", required=True, choices=sorted(VIEW_WORLD_AXIS))
    simulate.add_argument("--thickness", required=True, type=_number("positive"),
                          help="slice thickness (mm)")
    simulate.add_argument("--model", default="slice-profile", choices=MODELS)
    simulate.add_argument("--noise", default=0.0, type=_number("non-negative"),
                          help="Rician noise sigma")
    simulate.add_argument("--seed", default=0, type=_seed)
    simulate.add_argument("--out", required=True)
    simulate.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    simulate.set_defaults(run=_simulate)

    fit = commands.add_parser("fit", parents=[common], help="super-resolve LR scans of one subject")
    fit.add_argument("--method", required=True, help="registered method name, e.g. cubic")
    fit.add_argument("--lr", action="append", required=True, help="CONTRAST=path (repeat)")
    fit.add_argument("--mask", help="brain mask on the HR output grid (defines the grid)")
    fit.add_argument("--resolution", type=_number("positive"), default=1.0,
                     help="isotropic output spacing (mm) when no --mask is given")
    fit.add_argument("--param", action="append", default=[],
                     help="NAME=VALUE hyper-parameter (JSON or text)")
    fit.add_argument("--seed", default=0, type=_seed)
    fit.add_argument("--threads", type=_positive_integer,
                     help="CPU threads of every pool (PyTorch, OpenMP, MKL, OpenBLAS for what "
                          "starts after it; default: the libraries' own, all cores)")
    fit.add_argument("--out-dir", required=True, help="folder of the result (new or empty)")
    fit.add_argument("--overwrite", action="store_true",
                     help="replace the earlier result in --out-dir")
    fit.add_argument("--checkpoint-dir",
                     help="per-epoch checkpoints of a training method, resumed when the same fit "
                          "is run again after being killed; a new folder (isosr creates it and "
                          "removes its own files from it once the fit finishes) or one an "
                          "earlier isosr fit created (default: .OUT_DIR.checkpoint beside "
                          "OUT_DIR)")
    fit.set_defaults(run=_fit)

    evaluate = commands.add_parser("evaluate", parents=[common],
                                   help="PSNR, SSIM and MI errors against HR truth")
    evaluate.add_argument("--truth", action="append", required=True, help="CONTRAST=path")
    evaluate.add_argument("--prediction", action="append", required=True, help="CONTRAST=path")
    evaluate.add_argument("--mask", required=True)
    evaluate.add_argument("--method", default="-")
    evaluate.add_argument("--subject", default="-")
    evaluate.add_argument("--convention", default="isosr", choices=METRIC_CONVENTIONS,
                          help="metric definitions: isosr's (default) or those of McGinnis et "
                               "al. 2023's released code (renormalised, whole volume)")
    evaluate.add_argument("--out", required=True)
    evaluate.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    evaluate.set_defaults(run=_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status (errors are one line on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        with _debug_log(args.debug):
            args.run(args)
    except KeyboardInterrupt:
        print("isosr: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line for the user; the traceback only with --debug
        print(f"isosr error: {_describe(error)}", file=sys.stderr)
        return 1
    return 0


@contextmanager
def _debug_log(enabled: bool) -> Iterator[None]:
    """With ``enabled``, every log record (the traceback of an error too) goes to stderr."""
    if not enabled:
        yield
        return
    root, handler = logging.getLogger(), logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    except Exception:
        LOG.debug("traceback of the error below", exc_info=True)
        raise
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _describe(error: Exception) -> str:
    """One line for an error: the message of a user error, else what failed and how to see why."""
    if isinstance(error, InputError):
        return str(error)
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror}"
    if isinstance(error, MemoryError):
        return "out of memory; try a coarser --resolution or a smaller --mask"
    return (f"unexpected {type(error).__name__}: {error} (rerun with --debug for the traceback, "
            "and please report it)")


if __name__ == "__main__":
    sys.exit(main())
