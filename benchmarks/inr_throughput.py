"""Throughput of the INR training loop versus a plain DataLoader loop, HR prediction time, and
the time-to-quality of the ``fast`` split-head INR against the paper-size one.

Prints (asserts nothing), for the paper-size split-head INR and the ``fast`` profile on the
current device (CUDA when available):

- training coordinates per second of isosr's loop (data on the device, batches sampled there);
- the same for a plain PyTorch loop over a ``TensorDataset`` + ``DataLoader`` (shuffled, the
  default collate, each batch copied to the device), on the same model, loss and optimiser;
- the cost of the batch sampling alone (no model), which bounds the DataLoader loop wherever the
  model itself is fast (on a GPU);
- the time to predict a full HR grid: the 2 mm demo grid and the 1 mm MNI grid. Where that
  would take too long (the paper model on a CPU) the time is extrapolated from a timed sample,
  and the line says so.

These loops use point samples (each network on its own; the ``fast`` profile's slice-profile
model evaluates ``profile_samples`` points per LR voxel). Then, side by side on the same LR
images of one embedded subject (2 mm, T1w axial + T2w coronal, 4 mm slices, Gaussian profile):
the paper profile trains for ``--paper-cpu-seconds`` of CPU time (its 50-epoch schedule, stopped
at the first epoch boundary past the budget; CPU time, so other load on the machine does not
shrink its budget); the ``fast`` profile trains its full schedule. The
mean PSNR over both contrasts (inside the brain) is measured after every epoch, outside the
timed training; printed: the seconds the fast INR needs to reach the PSNR the paper INR reached
within its budget, the ratio, and the LR voxels per second of both.

Last, the ``fast`` split-head fit of that subject on ONE core (as a workflow fit job runs):
its training seconds, PSNR, evaluated coordinates per second, and its arithmetic (the MLP's
matrix products forward and backward plus the trilinear interpolation's multiply-adds; gathers,
scatters and Adam move memory and are not counted) as a FLOP rate and as a fraction of the core's
peak, measured in the same run with a large one-thread matmul.

    python benchmarks/inr_throughput.py [--batches N] [--threads N] [--paper-cpu-seconds S]
                                        [--skip-throughput] [--skip-quality]

The throughput part runs in about a minute on 2 CPU cores; time-to-quality takes the paper
budget plus about a minute.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from embedded_case import embedded_case
from torch.utils.data import DataLoader, TensorDataset

from isosr.methods import create_method
from isosr.methods.device import select_device
from isosr.methods.inr.model import NetworkGeometry, split_head_inr
from isosr.methods.inr.params import SplitHeadParams
from isosr.methods.inr.samples import TrainingSet
from isosr.methods.inr.training import Trainer, predict
from isosr.metrics import psnr
from isosr.simulate import Acquisition

GRIDS = {"2 mm demo grid (79x97x81)": 79 * 97 * 81, "1 mm MNI grid (193x229x193)": 193 * 229 * 193}
PREDICTION_SAMPLE = 1 << 16
PREDICTION_BUDGET_S = 20.0
DEMO_GEOMETRY = NetworkGeometry(half_extent_mm=98.0, hr_voxel_mm=2.0)  # the 2 mm demo brain
QUALITY_CASE = {"T1w": Acquisition("axial", 4.0), "T2w": Acquisition("coronal", 4.0)}


def synthetic_samples(count: int, device: torch.device, seed: int = 0) -> TrainingSet:
    """Random coordinates in [-1, 1]^3 with random targets, half of each of two contrasts
    (contrast-major, as ``TrainingSet`` holds them)."""
    generator = torch.Generator().manual_seed(seed)
    coordinates = torch.rand(count, 3, generator=generator) * 2 - 1
    targets = torch.rand(count, generator=generator)
    index = (torch.arange(count) >= count // 2).long()
    return TrainingSet(coordinates.to(device), targets.to(device), index.to(device),
                       ("T1w", "T2w"))


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def isosr_loop(params: SplitHeadParams, samples: TrainingSet) -> float:
    """Coordinates per second of one epoch of isosr's Trainer over ``samples``."""
    network = split_head_inr(params, 2, DEMO_GEOMETRY).to(samples.targets.device)
    few_points = samples.coordinates[:1000]
    warmup = TrainingSet(samples.coordinates[:2 * params.batch_size],
                         samples.targets[:2 * params.batch_size],
                         samples.contrast_index[:2 * params.batch_size], samples.contrasts)
    Trainer(network, warmup, few_points, params, seed=0, description="warm-up").run()
    trainer = Trainer(network, samples, few_points, params, seed=0, description="isosr loop")
    record = trainer.run()[0]
    return len(samples) / record.seconds


def dataloader_loop(params: SplitHeadParams, samples: TrainingSet) -> float:
    """Coordinates per second of a plain DataLoader loop (same model, loss and optimiser)."""
    device = samples.targets.device
    network = split_head_inr(params, 2, DEMO_GEOMETRY).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=params.learning_rate)
    dataset = TensorDataset(samples.coordinates.cpu(), samples.targets.cpu(),
                            samples.contrast_index.cpu())
    loader = DataLoader(dataset, batch_size=params.batch_size, shuffle=True)

    def step(coordinates: torch.Tensor, targets: torch.Tensor, index: torch.Tensor) -> None:
        coordinates, targets, index = coordinates.to(device), targets.to(device), index.to(device)
        outputs = network(coordinates)
        own = torch.nn.functional.one_hot(index, 2).to(outputs.dtype)
        squared = (outputs - targets[:, None]) ** 2 * own
        loss = (squared.sum(0) / own.sum(0).clamp(min=1.0)).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    warmup = iter(loader)
    for _ in range(2):
        step(*next(warmup))
    synchronise(device)
    start = time.perf_counter()
    for batch in loader:
        step(*batch)
    synchronise(device)
    return len(samples) / (time.perf_counter() - start)


def sampling_only(samples: TrainingSet, batch_size: int) -> tuple[float, float]:
    """Coordinates per second of the batch sampling alone (no model): isosr's on-device
    permutation and indexing, and the DataLoader's per-item indexing, collation and copy."""
    device = samples.targets.device
    start = time.perf_counter()
    order = torch.randperm(len(samples), device=device)
    for batch in order.split(batch_size):
        samples.coordinates[batch], samples.targets[batch], samples.contrast_index[batch]
    synchronise(device)
    ours = len(samples) / (time.perf_counter() - start)
    loader = DataLoader(TensorDataset(samples.coordinates.cpu(), samples.targets.cpu(),
                                      samples.contrast_index.cpu()),
                        batch_size=batch_size, shuffle=True)
    start = time.perf_counter()
    for batch in loader:
        [tensor.to(device) for tensor in batch]
    synchronise(device)
    return ours, len(samples) / (time.perf_counter() - start)


def prediction_seconds(params: SplitHeadParams, device: torch.device) -> tuple[float, bool]:
    """Seconds per coordinate to predict, and whether a full 1 mm grid was actually run."""
    network = split_head_inr(params, 2, DEMO_GEOMETRY).to(device)
    sample = torch.rand(PREDICTION_SAMPLE, 3, device=device) * 2 - 1
    predict(network, sample[:1024])
    synchronise(device)
    start = time.perf_counter()
    predict(network, sample)
    synchronise(device)
    per_point = (time.perf_counter() - start) / PREDICTION_SAMPLE
    largest = max(GRIDS.values())
    if per_point * largest > PREDICTION_BUDGET_S:
        return per_point, False
    grid = torch.rand(largest, 3, device=device) * 2 - 1
    start = time.perf_counter()
    predict(network, grid)
    synchronise(device)
    return (time.perf_counter() - start) / largest, True


def psnr_curve(profile: str, device: torch.device, budget_cpu_s: float | None
               ) -> tuple[list[tuple[float, float, float]], float]:
    """(cumulative training seconds, cumulative CPU seconds of this process, mean PSNR) after
    each epoch of a split-head fit of the quality case, stopped at the first epoch boundary past
    ``budget_cpu_s`` CPU seconds; and its LR voxels/s. CPU seconds (all threads) are insensitive
    to other load on the machine, so the two profiles compare fairly on a shared one."""
    hr, lr, grid = embedded_case("01", QUALITY_CASE)
    method = create_method("inr-splithead", {"profile": profile, "early_stopping": False})
    fit = method.prepare(lr, grid, device, seed=0, label=f"inr-splithead {profile}")
    curve, seconds, cpu_seconds = [], 0.0, 0.0
    cpu_start = time.process_time()
    for record in fit.trainer.epochs():
        cpu_seconds += time.process_time() - cpu_start
        seconds += record.seconds
        predictions = fit.predict(grid)
        curve.append((seconds, cpu_seconds, float(np.mean([psnr(predictions[c], hr[c], grid.mask)
                                                           for c in hr]))))
        if budget_cpu_s is not None and cpu_seconds >= budget_cpu_s:
            break
        cpu_start = time.process_time()
    return curve, len(curve) * len(fit.trainer.samples) / seconds


def time_to_quality(device: torch.device, paper_budget_cpu_s: float) -> None:
    paper, paper_rate = psnr_curve("paper", device, paper_budget_cpu_s)
    fast, fast_rate = psnr_curve("fast", device, None)
    target_seconds, target_cpu, target = paper[-1]
    print("\ntime to quality (embedded subject 01, 2 mm, T1w ax + T2w cor 4 mm, mean PSNR):")
    print(f"  paper profile: {target:.2f} dB after {len(paper)} epoch(s), {target_seconds:.0f} s "
          f"of training ({target_cpu:.0f} CPU s), {paper_rate:,.0f} LR voxels/s")
    print("  fast profile:  " + ", ".join(f"{p:.2f} dB at {t:.0f} s ({c:.0f} CPU s)"
                                         for t, c, p in fast)
          + f"; {fast_rate:,.0f} LR voxels/s")
    reached = next(((t, c) for t, c, p in fast if p >= target), None)
    if reached is None:
        print(f"  fast profile did not reach {target:.2f} dB within its schedule")
    else:
        print(f"  fast reaches the paper's {target:.2f} dB after {reached[0]:.1f} s "
              f"({reached[1]:.1f} CPU s): {target_seconds / reached[0]:.1f} x faster in wall "
              f"time, {target_cpu / reached[1]:.1f} x in CPU time (goal >= 10 x)")


def matmul_peak_flops(size: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of a large float32 matmul on the current threads (the core's practical peak)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def training_flops_per_point(network: torch.nn.Module) -> float:
    """FLOPs of one training point (forward + backward) of a split-head hash-grid INR: each
    Linear of the trunk and of the point's own head costs 2 in x out forward and twice that
    backward (input and weight gradients); the interpolation 8 corners x levels x (2 weight
    products + 2 F multiply-adds) forward and 8 x levels x F products backward."""
    layers = [m for m in network.trunk if isinstance(m, torch.nn.Linear)]
    layers += [m for m in network.heads[0] if isinstance(m, torch.nn.Linear)]
    mlp = sum(3 * 2 * m.in_features * m.out_features for m in layers)
    encoding = network.encoding
    interpolation = 8 * encoding.levels * (2 + 4 * encoding.features + encoding.features)
    return mlp + interpolation


def fast_fit_on_one_core(device: torch.device) -> None:
    """The ``fast`` split-head fit of the quality case with one PyTorch thread: time, PSNR,
    coordinates/s and FLOP rate against the one-thread matmul peak."""
    if device.type != "cpu":
        print("\nfast split-head fit on one core: skipped (the device is not the CPU)")
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        hr, lr, grid = embedded_case("01", QUALITY_CASE)
        method = create_method("inr-splithead", {"profile": "fast"})
        fit = method.prepare(lr, grid, device, seed=0, label="inr-splithead fast, 1 thread")
        records = fit.trainer.run()
        predictions = fit.predict(grid)
        peak = matmul_peak_flops()
    finally:
        torch.set_num_threads(threads)
    seconds = sum(r.seconds for r in records)
    params = method.params
    points = len(fit.trainer.samples) * len(records) * params.profile_samples
    flops = points * training_flops_per_point(fit.trainer.network)
    quality = np.mean([psnr(predictions[c], hr[c], grid.mask) for c in hr])
    print(f"\nfast split-head fit on one core (embedded subject 01, 2 mm, "
          f"{len(fit.trainer.samples):,} LR voxels, {len(records)} epochs x "
          f"{params.profile_samples} profile samples):")
    print(f"  training {seconds:.1f} s (goal <= 10 s), mean PSNR {quality:.2f} dB")
    print(f"  {points / seconds:,.0f} coordinates/s; arithmetic {flops / 1e9:.0f} GFLOP -> "
          f"{flops / seconds / 1e9:.1f} GFLOP/s; one-thread matmul peak {peak / 1e9:.1f} GFLOP/s: "
          f"{flops / seconds / peak:.0%} of peak (the arithmetic alone at peak: "
          f"{flops / peak:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=0,
                        help="training batches timed per loop (default: 12 paper, 60 fast on a "
                             "CPU; 300 each on a GPU)")
    parser.add_argument("--threads", type=int, default=0,
                        help="PyTorch CPU threads (default: PyTorch's choice)")
    parser.add_argument("--paper-cpu-seconds", type=float, default=1200.0,
                        help="training budget of the paper-size INR in the time-to-quality test, "
                             "in CPU seconds of this process (1200: 10 minutes on 2 idle cores)")
    parser.add_argument("--skip-throughput", action="store_true",
                        help="skip the loop throughput and prediction timings")
    parser.add_argument("--skip-quality", action="store_true",
                        help="skip the time-to-quality comparison with the paper-size INR")
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    device = select_device("auto")
    torch.manual_seed(0)
    print(f"device: {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else ''}"
          f"{torch.get_num_threads()} CPU threads), torch {torch.__version__}")
    for profile in () if arguments.skip_throughput else ("paper", "fast"):
        params = SplitHeadParams(profile=profile, epochs=1, early_stopping=False,
                                 forward_model="point")
        network_size = sum(p.numel() for p in split_head_inr(params, 2, DEMO_GEOMETRY).parameters())
        batches = arguments.batches or (300 if device.type == "cuda" else
                                        {"paper": 12, "fast": 60}[profile])
        samples = synthetic_samples(batches * params.batch_size, device)
        ours = isosr_loop(params, samples)
        plain = dataloader_loop(params, samples)
        print(f"\nsplit-head INR, profile {profile}: {network_size:,} parameters, batch "
              f"{params.batch_size}, {batches} batches timed")
        for label, value in ((f"isosr loop (data on {device.type})", f"{ours:,.0f} coordinates/s"),
                             ("plain DataLoader loop", f"{plain:,.0f} coordinates/s"),
                             ("speed-up", f"{ours / plain:.2f} x")):
            print(f"  {label:<28} {value:>22}")
        sampled, loaded = sampling_only(synthetic_samples(200 * params.batch_size, device),
                                        params.batch_size)
        print(f"  batch sampling alone, no model: isosr {sampled:,.0f}/s, DataLoader "
              f"{loaded:,.0f}/s ({sampled / loaded:.0f} x)")
        per_point, measured = prediction_seconds(params, device)
        for name, points in GRIDS.items():
            note = "measured" if measured else f"extrapolated from {PREDICTION_SAMPLE:,} points"
            print(f"  predict {name}: {per_point * points:8.1f} s ({note})")
    if not arguments.skip_quality:
        time_to_quality(device, arguments.paper_cpu_seconds)
    fast_fit_on_one_core(device)


if __name__ == "__main__":
    main()
