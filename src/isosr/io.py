"""NIfTI input/output and voxel-grid geometry in world (scanner) coordinates.

Every image in isosr is a NumPy array plus a 4x4 voxel-to-world affine (RAS+ millimetres),
exactly as nibabel stores it. Resampling always goes through world coordinates, so images on
different grids (a 4 mm coronal stack and a 1 mm isotropic volume) meet at the same points.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage


class InputError(ValueError):
    """Bad user input (a file, a config value): the message names the culprit."""


class OutputError(InputError):
    """A result that could not be written (disk full, no permission): the message names the file.

    A subclass of InputError so that every caller that reports bad input in one line reports
    this one too."""


class RegistrationError(RuntimeError):
    """A registration that did not converge to a plausible rigid alignment."""


@dataclass(frozen=True)
class Grid:
    """A voxel grid: array shape and voxel-to-world affine, plus an optional brain mask on it."""

    shape: tuple[int, int, int]
    affine: np.ndarray
    mask: np.ndarray | None = None

    @property
    def spacing(self) -> np.ndarray:
        """Voxel size along each array axis (mm)."""
        return voxel_spacing(self.affine)

    def world_coordinates(self) -> np.ndarray:
        """World coordinates of every voxel centre, shape (*shape, 3)."""
        return voxel_to_world(self.affine, np.indices(self.shape, dtype=np.float64).reshape(3, -1).T
                              ).reshape(*self.shape, 3)


# Largest voxel grid isosr builds: 2^28 voxels = 1 GiB per float32 image (0.5 mm over 256 mm).
MAX_GRID_VOXELS = 2**28
# Affine tolerances: |cosine| between two voxel axes, and the largest qform/sform difference (mm).
ORTHOGONALITY_TOLERANCE = 1e-3
AFFINE_TOLERANCE_MM = 1e-3
# The only image files isosr reads and writes: single-file NIfTI-1 or NIfTI-2, plain or gzipped.
NIFTI_SUFFIXES = (".nii", ".nii.gz")
# What a file named otherwise is, by its last suffix (all but DICOM and NRRD open in nibabel).
OTHER_FORMATS = {
    suffix: kind for suffixes, kind in (
        ((".hdr", ".img"), "an Analyze or NIfTI header/image pair"),
        ((".mgh", ".mgz"), "a FreeSurfer MGH image"), ((".mnc",), "a MINC image"),
        ((".par", ".rec"), "a Philips PAR/REC image"), ((".head", ".brik"), "an AFNI image"),
        ((".gii",), "a GIFTI surface"), ((".dcm",), "a DICOM file"), ((".nrrd",), "an NRRD image"),
        ((".bz2",), "a bzip2-compressed file"), ((".zst",), "a zstd-compressed file"),
    ) for suffix in suffixes
}
GZIP_MAGIC = b"\x1f\x8b"
# Header size -> (name, offset of its magic: n+1 / n+2 single file, ni1 / ni2 pair, image class).
NIFTI_HEADERS = {348: ("NIfTI-1", 344, nib.Nifti1Image), 540: ("NIfTI-2", 4, nib.Nifti2Image)}
# Smallest fraction of the HR grid (of its brain mask, when it has one) an LR scan must image.
MIN_FIELD_OF_VIEW_COVERAGE = 0.5


@dataclass(frozen=True)
class LRImage:
    """A low-resolution acquisition: intensities, affine, and how it was acquired (the
    scenario's LR model and noise, for methods that simulate more of the same in training)."""

    data: np.ndarray
    affine: np.ndarray
    view: str = "axial"
    thickness: float = 1.0
    model: str = "slice-profile"  # the acquisition model of isosr.simulate
    noise: float = 0.0


def voxel_spacing(affine: np.ndarray) -> np.ndarray:
    """Length of each affine column: the voxel size along each array axis."""
    return np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)


def voxel_to_world(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """Map (N, 3) voxel indices to (N, 3) world coordinates."""
    affine = np.asarray(affine, dtype=np.float64)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def world_to_voxel(affine: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """Map (N, 3) world coordinates to (N, 3) continuous voxel indices."""
    inverse = np.linalg.inv(np.asarray(affine, dtype=np.float64))
    return xyz @ inverse[:3, :3].T + inverse[:3, 3]


def resample_to_grid(data: np.ndarray, affine: np.ndarray, grid: Grid, order: int = 3,
                     cval: float | None = None) -> np.ndarray:
    """Spline-resample an image onto ``grid`` through world coordinates (scipy.ndimage).

    Points outside the source field of view take the nearest edge value when ``cval`` is None
    (an LR stack that stops half a slice short of the HR box is extended, not zero-filled),
    otherwise ``cval``.
    """
    source_from_target = np.linalg.inv(np.asarray(affine, dtype=np.float64)) @ grid.affine
    mode = "nearest" if cval is None else "constant"
    return ndimage.affine_transform(
        np.asarray(data, dtype=np.float32), source_from_target[:3, :3], source_from_target[:3, 3],
        output_shape=grid.shape, order=order, mode=mode, cval=0.0 if cval is None else cval,
    ).astype(np.float32)


def load_nifti(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a 3D NIfTI-1 or NIfTI-2 image (``.nii`` or ``.nii.gz``) as float32 array and affine.

    Anything else is refused with one line naming the file and the problem: another format, a
    compression that does not match the name, a header of another kind, complex or RGB data, a
    shape that is not 3D or above MAX_GRID_VOXELS (checked before reading the data), a file
    shorter than its header says, NaN or infinite values, an unusable affine.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    compressed = nifti_suffix(path) == ".nii.gz"
    image_class = _nifti_image_class(path, compressed)
    try:
        image = image_class.from_filename(str(path))
        affine = np.asarray(image.affine, dtype=np.float64)
    except Exception as error:  # nibabel raises several unrelated types for corrupt headers
        raise InputError(f"{path}: not a readable NIfTI image ({_one_line(error)})") from error
    data = _read_data(path, image, _image_shape(path, image.header), compressed)
    non_finite = int(data.size - np.count_nonzero(np.isfinite(data)))
    if non_finite:
        raise InputError(f"{path}: contains NaN or infinite values ({non_finite} of {data.size} "
                         "voxels, as float32: beyond +-3.4e+38 counts as infinite)")
    problem = affine_problem(affine) or _qform_sform_problem(image.header)
    if problem:
        raise InputError(f"{path}: {problem}")
    return data, affine


def nifti_suffix(path: Path) -> str:
    """``.nii`` or ``.nii.gz`` (any case), the suffix of a file isosr reads or writes; any other
    name is refused, saying what the name suggests it is."""
    name = path.name.lower()
    for suffix in NIFTI_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    kind = OTHER_FORMATS.get(path.suffix.lower(), f"a {path.suffix!r} file" if path.suffix
                             else "a file without extension")
    raise InputError(f"{path}: {kind}, not a NIfTI image; isosr reads and writes only NIfTI-1 "
                     "and NIfTI-2 files named .nii or .nii.gz (convert it first)")


def _nifti_image_class(path: Path, compressed: bool) -> type[nib.Nifti1Image]:
    """Nifti1Image or Nifti2Image, from the file's first bytes: a single-file NIfTI-1 (348-byte
    header, magic n+1) or NIfTI-2 (540 bytes, n+2), compressed exactly when the name says so."""
    with path.open("rb") as stream:
        if (stream.read(2) == GZIP_MAGIC) != compressed:
            raise InputError(f"{path}: named .nii{'.gz' if compressed else ''} but "
                             f"{'not ' if compressed else ''}gzip-compressed; rename it to "
                             f"{path.name[:-3] if compressed else path.name + '.gz'}")
    try:
        with (gzip.open(path) if compressed else path.open("rb")) as stream:
            head = stream.read(540)
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"{path}: damaged gzip data ({_one_line(error)})") from error
    sizes = {int.from_bytes(head[:4], order) for order in ("little", "big")} & set(NIFTI_HEADERS)
    if not sizes or len(head) < min(sizes):
        raise InputError(f"{path}: not a NIfTI image (no NIfTI-1 or NIfTI-2 header)")
    kind, at, image_class = NIFTI_HEADERS[sizes.pop()]
    magic = head[at:at + 4]
    if magic == f"ni{kind[-1]}\0".encode():
        raise InputError(f"{path}: the header of a {kind} header/image pair (.hdr/.img), not a "
                         "single-file NIfTI image")
    if magic != f"n+{kind[-1]}\0".encode():
        raise InputError(f"{path}: not a NIfTI image (an Analyze 7.5 header, or a damaged "
                         f"{kind} header: magic {magic!r})")
    return image_class


def _image_shape(path: Path, header: nib.Nifti1Header) -> tuple[int, int, int]:
    """The 3D shape the header gives (a 4th axis of 1 dropped), for a real-valued image no
    larger than MAX_GRID_VOXELS: checked before any data is read."""
    dtype = header.get_data_dtype()
    if dtype.kind not in "uif":
        raise InputError(f"{path}: data type {header.get_value_label('datatype')} is not "
                         "supported; isosr reads real-valued (integer or floating-point) images")
    shape = tuple(int(n) for n in header.get_data_shape())
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise InputError(f"{path}: expected a 3D image, got shape {shape}")
    if min(shape) < 1:
        raise InputError(f"{path}: its header gives no voxels (shape {'x'.join(map(str, shape))})")
    if np.prod(np.asarray(shape, dtype=np.float64)) > MAX_GRID_VOXELS:
        raise InputError(f"{path}: its header gives {_size_text(shape)}; isosr does not read "
                         "images this large")
    return shape


def _read_data(path: Path, image: nib.Nifti1Image, shape: tuple[int, int, int],
               compressed: bool) -> np.ndarray:
    """The image's data as float32 (values beyond its range become inf); a file shorter than
    its header says is refused as truncated, saying by how much."""
    try:
        with np.errstate(over="ignore"):
            return np.asarray(image.dataobj, dtype=np.float32).reshape(shape)
    except (OSError, EOFError, ValueError, zlib.error) as error:  # a short or damaged file
        dtype, offset = image.header.get_data_dtype(), image.dataobj.offset
        needed = offset + int(np.prod(shape)) * dtype.itemsize
        length = _stored_length(path, compressed)
        if length < needed:
            raise InputError(f"{path}: truncated: its header describes {needed} bytes "
                             f"({'x'.join(map(str, shape))} voxels of {dtype} from byte "
                             f"{offset}), the {'decompressed ' if compressed else ''}file has "
                             f"{length}") from error
        raise InputError(f"{path}: not a readable NIfTI image ({_one_line(error)})") from error


def _stored_length(path: Path, compressed: bool) -> int:
    """Bytes in the file (decompressed, for gzip; one whose gzip stream breaks off is refused)."""
    if not compressed:
        return path.stat().st_size
    length = 0
    try:
        with gzip.open(path) as stream:
            while chunk := stream.read(2**24):
                length += len(chunk)
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"{path}: truncated or damaged gzip data ({_one_line(error)})"
                         ) from error
    return length


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def affine_problem(affine: np.ndarray) -> str | None:
    """What makes ``affine`` unusable as a voxel-to-world map, or None: it must be finite, with
    non-degenerate, mutually orthogonal voxel axes (no shear)."""
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        return "affine is not a finite 4x4 matrix"
    spacing = voxel_spacing(affine)
    if np.any(spacing < 1e-6):
        return f"affine is singular (voxel sizes {np.round(spacing, 6).tolist()} mm)"
    axes = affine[:3, :3] / spacing
    cosines = np.abs(axes.T @ axes - np.eye(3))
    if cosines.max() > ORTHOGONALITY_TOLERANCE:
        angle = np.degrees(np.arcsin(min(1.0, cosines.max())))
        return f"affine is sheared (voxel axes {angle:.2g} degrees off orthogonal)"
    return None


def _qform_sform_problem(header: object) -> str | None:
    """A NIfTI whose qform and sform are both set but place the voxels differently."""
    if not isinstance(header, nib.Nifti1Header):  # also Nifti2Header; other formats have neither
        return None
    qform, qcode = header.get_qform(coded=True)
    sform, scode = header.get_sform(coded=True)
    if not qcode or not scode:
        return None
    difference = float(np.abs(qform - sform).max())
    if difference > AFFINE_TOLERANCE_MM:
        return (f"qform and sform disagree (by up to {difference:.3g} mm); fix the header, "
                "e.g. copy the intended one over the other")
    return None


def save_nifti(path: str | Path, data: np.ndarray, affine: np.ndarray,
               dtype: type = np.float32) -> None:
    """Write a NIfTI-1 image atomically (temporary file, then rename), creating parent folders:
    ``.nii`` plain, ``.nii.gz`` gzip-compressed, any other name refused (InputError). Data that
    are NaN or infinite, or become so in ``dtype`` (float32 overflow), are refused (OutputError)
    and nothing is written."""
    path = Path(path)
    suffix = nifti_suffix(path)
    values = np.asarray(data)
    with np.errstate(over="ignore", invalid="ignore"):
        array = values.astype(dtype)
    finite = np.isfinite(values)
    overflow = 0
    if np.issubdtype(array.dtype, np.floating):
        overflow = int(np.count_nonzero(finite & ~np.isfinite(array)))
    non_finite = values.size - int(np.count_nonzero(finite)) + overflow
    if non_finite:
        beyond = (f", {overflow} of them beyond the range of {array.dtype} "
                  f"(+-{np.finfo(array.dtype).max:.2g})" if overflow else "")
        raise OutputError(f"{path}: {non_finite} of {values.size} voxels are NaN or infinite"
                          f"{beyond}; not written")
    image = nib.Nifti1Image(array, np.asarray(affine, dtype=np.float64))
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(image.affine, code=1)
    image.set_sform(image.affine, code=1)
    write_atomically(path, f".{path.name}.partial{suffix}",
                      lambda partial: nib.save(image, str(partial)))


def save_json(path: str | Path, payload: dict) -> None:
    """Write a JSON sidecar atomically, with sorted keys for stable diffs."""
    save_text(path, json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n")


def save_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (temporary file, then rename), creating parent folders."""
    path = Path(path)
    write_atomically(path, f".{path.name}.partial", lambda partial: partial.write_text(text))


def write_atomically(path: Path, partial_name: str, write: Callable[[Path], object]) -> None:
    """``write`` a hidden partial file beside ``path``, then rename it over ``path``.

    A failed write (disk full, file too large, no permission) removes the partial file and
    raises OutputError naming ``path``; ``path`` itself is never left half-written.
    """
    partial = path.with_name(partial_name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        partial.replace(path)
    except BaseException as error:  # also an interrupt: never leave the partial file behind
        with suppress(OSError):
            partial.unlink()
        if isinstance(error, OSError):
            raise OutputError(f"{path}: cannot write ({error.strerror or error})") from error
        raise


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def rescaled_grid(shape: tuple[int, ...], affine: np.ndarray, resolution_mm: float) -> Grid:
    """The grid of ``resolution_mm`` voxels along the same axes as (shape, affine), aligned to its
    low corner: both grids' first voxels share their outer corner, and the new grid holds the
    whole voxels that fit in the field of view, so the remainder (< ``resolution_mm`` per axis)
    is left uncovered at the high end."""
    check_resolution(resolution_mm)
    spacing = voxel_spacing(affine)
    new_shape = tuple(int(np.floor(n * s / resolution_mm)) for n, s in zip(shape, spacing,
                                                                          strict=True))
    check_grid_size(new_shape, resolution_mm)
    scaled = np.array(affine, dtype=np.float64)
    scaled[:3, :3] = affine[:3, :3] / spacing * resolution_mm
    scaled[:3, 3] = affine[:3, 3] + affine[:3, :3] @ ((resolution_mm / spacing - 1.0) / 2.0)
    return Grid(new_shape, scaled)


def isotropic_grid(images: list[LRImage], resolution_mm: float) -> Grid:
    """An isotropic grid oriented like the first image, covering every image's field of view.

    Only the shape is computed: check the images' coverage (``field_of_view_coverage``) and then
    ``check_grid_size`` before allocating anything on it.
    """
    check_resolution(resolution_mm)
    first = images[0].affine
    rotation = first[:3, :3] / voxel_spacing(first)
    corners = []
    for image in images:
        shape = np.asarray(image.data.shape)
        box = np.array([[i, j, k] for i in (-0.5, shape[0] - 0.5) for j in (-0.5, shape[1] - 0.5)
                        for k in (-0.5, shape[2] - 0.5)])
        corners.append(voxel_to_world(image.affine, box))
    local = np.concatenate(corners) @ rotation  # world -> the first image's axes (orthonormal)
    low, high = local.min(axis=0), local.max(axis=0)
    shape = tuple(int(np.ceil((h - lo) / resolution_mm)) for lo, h in zip(low, high, strict=True))
    affine = np.eye(4)
    affine[:3, :3] = rotation * resolution_mm
    affine[:3, 3] = rotation @ (low + resolution_mm / 2.0)
    return Grid(shape, affine)


def check_resolution(resolution_mm: float) -> None:
    """A grid spacing must be a positive finite number of millimetres."""
    if not (np.isfinite(resolution_mm) and resolution_mm > 0):
        raise InputError(f"resolution {resolution_mm} mm: expected a positive finite number")


def check_grid_size(shape: tuple[int, ...], resolution_mm: float) -> None:
    """Refuse an empty grid, or one above MAX_GRID_VOXELS, saying the size it would need."""
    if min(shape) < 1:
        raise InputError(f"a {resolution_mm:g} mm grid over this field of view has no voxels "
                         f"({'x'.join(str(n) for n in shape)}): the resolution exceeds the field "
                         "of view")
    if np.prod(np.asarray(shape, dtype=np.float64)) > MAX_GRID_VOXELS:
        raise InputError(f"a {resolution_mm:g} mm grid over this field of view would need "
                         f"{_size_text(shape)}; choose a coarser resolution")


def _size_text(shape: tuple[int, ...]) -> str:
    """'512x512x1025 = 2.69e+08 voxels (1 GiB per float32 image), above the limit of ...'."""
    voxels = float(np.prod(np.asarray(shape, dtype=np.float64)))
    return (f"{'x'.join(str(n) for n in shape)} = {voxels:.3g} voxels ({voxels * 4 / 2**30:.3g} "
            f"GiB per float32 image), above the limit of {MAX_GRID_VOXELS:.3g} voxels (1 GiB)")


def field_of_view_coverage(shape: tuple[int, ...], affine: np.ndarray, grid: Grid,
                           points_per_axis: int = 24) -> float:
    """Fraction of ``grid`` (of its mask's voxels, if it has a non-empty mask) that lies inside
    the field of view of an image (shape, affine), estimated on at most points_per_axis^3 voxels
    spread evenly over the grid (cheap even for a grid too large to allocate)."""
    if grid.mask is not None and grid.mask.any():
        ijk = np.argwhere(grid.mask).astype(np.float64)
        ijk = ijk[:: max(1, len(ijk) // points_per_axis**3)]
    else:
        axes = [np.linspace(0, n - 1, min(n, points_per_axis)) for n in grid.shape]
        ijk = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    inside = world_to_voxel(affine, voxel_to_world(grid.affine, ijk))
    within = np.all((inside >= -0.5) & (inside <= np.asarray(shape) - 0.5), axis=1)
    return float(within.mean())


def check_field_of_view(path: str | Path, shape: tuple[int, ...], affine: np.ndarray,
                        grid: Grid) -> None:
    """Refuse an LR scan (at ``path``) that images less than MIN_FIELD_OF_VIEW_COVERAGE of the
    HR grid: the output there would be extrapolated, not super-resolved."""
    coverage = field_of_view_coverage(shape, affine, grid)
    if coverage < MIN_FIELD_OF_VIEW_COVERAGE:
        region = "HR grid's mask" if grid.mask is not None and grid.mask.any() else "HR grid"
        raise InputError(f"{path}: its field of view covers {100 * coverage:.0f}% of the "
                         f"{region} (at least {100 * MIN_FIELD_OF_VIEW_COVERAGE:.0f}% needed); "
                         "are the scans of the same subject, registered to each other?")


def check_same_grid(path: str | Path, shape: tuple[int, ...], affine: np.ndarray,
                    reference: str | Path, reference_shape: tuple[int, ...],
                    reference_affine: np.ndarray) -> None:
    """Refuse an image (at ``path``) that is not on the grid (shape and affine) of ``reference``."""
    if tuple(shape) != tuple(reference_shape):
        raise InputError(f"{path}: shape {tuple(shape)} differs from {reference} "
                         f"{tuple(reference_shape)}")
    difference = float(np.abs(np.asarray(affine) - np.asarray(reference_affine)).max())
    if difference > AFFINE_TOLERANCE_MM:
        raise InputError(f"{path}: affine differs from {reference} by up to {difference:.3g} mm; "
                         "the images must share one voxel grid")
