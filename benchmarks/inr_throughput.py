"""Throughput of the INR training loop versus a plain DataLoader loop, and HR prediction time.

Prints (asserts nothing), for the paper-size split-head INR and the ``cpu`` profile on the
current device (CUDA when available):

- training coordinates per second of isosr's loop (data on the device, batches sampled there);
- the same for a plain PyTorch loop over a ``TensorDataset`` + ``DataLoader`` (shuffled, the
  default collate, each batch copied to the device), on the same model, loss and optimiser;
- the cost of the batch sampling alone (no model), which bounds the DataLoader loop wherever the
  model itself is fast (on a GPU);
- the time to predict a full HR grid: the 2 mm demo grid and the 1 mm MNI grid. Where that
  would take too long (the paper model on a CPU) the time is extrapolated from a timed sample,
  and the line says so.

Runs in about a minute on 2 CPU cores:
``python benchmarks/inr_throughput.py [--batches N] [--threads N]``.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from isosr.methods.inr.model import split_head_inr
from isosr.methods.inr.params import SplitHeadParams
from isosr.methods.inr.samples import TrainingSet
from isosr.methods.inr.training import Trainer, predict, select_device

GRIDS = {"2 mm demo grid (79x97x81)": 79 * 97 * 81, "1 mm MNI grid (193x229x193)": 193 * 229 * 193}
PREDICTION_SAMPLE = 1 << 16
PREDICTION_BUDGET_S = 20.0


def synthetic_samples(count: int, device: torch.device, seed: int = 0) -> TrainingSet:
    """Random coordinates in [-1, 1]^3 with random targets, half of each of two contrasts."""
    generator = torch.Generator().manual_seed(seed)
    coordinates = torch.rand(count, 3, generator=generator) * 2 - 1
    targets = torch.rand(count, generator=generator)
    index = torch.arange(count) % 2
    return TrainingSet(coordinates.to(device), targets.to(device), index.to(device),
                       ("T1w", "T2w"))


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def isosr_loop(params: SplitHeadParams, samples: TrainingSet) -> float:
    """Coordinates per second of one epoch of isosr's Trainer over ``samples``."""
    network = split_head_inr(params, 2).to(samples.targets.device)
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
    network = split_head_inr(params, 2).to(device)
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
    network = split_head_inr(params, 2).to(device)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=0,
                        help="training batches timed per loop (default: 12 paper, 60 cpu on a "
                             "CPU; 300 each on a GPU)")
    parser.add_argument("--threads", type=int, default=0,
                        help="PyTorch CPU threads (default: PyTorch's choice)")
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    device = select_device("auto")
    torch.manual_seed(0)
    print(f"device: {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else ''}"
          f"{torch.get_num_threads()} CPU threads), torch {torch.__version__}")
    for profile in ("paper", "cpu"):
        params = SplitHeadParams(profile=profile, epochs=1, early_stopping=False)
        network_size = sum(p.numel() for p in split_head_inr(params, 2).parameters())
        batches = arguments.batches or (300 if device.type == "cuda" else
                                        {"paper": 12, "cpu": 60}[profile])
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


if __name__ == "__main__":
    main()
