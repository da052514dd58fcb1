"""The execution profiles: the local GPU cap, and SLURM on a real single-node cluster.

The cluster test starts Debian's SLURM on localhost with .ci/slurm/start.sh (root only; the
packages come from .ci/slurm/install_packages.sh, which .ci/run calls), runs subject 01 of the
tiny end-to-end config through `snakemake --profile profiles/slurm` under a hard
`timeout -s KILL`, checks that every job except the local rules ran inside a SLURM job that sacct
records as completed under the account of $SBATCH_ACCOUNT, and that the metric TSVs equal those
of the local run of the same config. It stops the cluster again unless it was already running.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SNAKEMAKE, run_snakemake

CLUSTER_SCRIPTS = REPO / ".ci" / "slurm"
MARKER = "# written by isosr .ci/slurm/start.sh"
ACCOUNT = os.environ.get("ISOSR_SLURM_ACCOUNT", "ci")  # created by start.sh
TOOLS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct", "scontrol")
RUN_LIMIT_S = 300


def cluster_unavailable() -> str | None:
    """Why no local cluster can be started here, or None."""
    if os.geteuid() != 0:
        return "starting a local SLURM cluster needs root (.ci/slurm/start.sh)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return (f"SLURM packages are not installed ({', '.join(missing)} missing): run "
                ".ci/slurm/install_packages.sh as root")
    config = Path("/etc/slurm/slurm.conf")
    if config.exists() and MARKER not in config.read_text():
        return f"{config} belongs to another SLURM installation; the test leaves it alone"
    return None


@pytest.fixture(scope="module")
def slurm_cluster() -> None:
    reason = cluster_unavailable()
    if reason:
        pytest.skip(reason)
    was_running = subprocess.run(["scontrol", "ping"], capture_output=True).returncode == 0
    start = time.perf_counter()
    started = subprocess.run(["bash", str(CLUSTER_SCRIPTS / "start.sh")], capture_output=True,
                             text=True, timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    print(f"\nlocal SLURM cluster ready in {time.perf_counter() - start:.1f} s")
    yield
    if not was_running:
        stopped = subprocess.run(["bash", str(CLUSTER_SCRIPTS / "stop.sh")],
                                 capture_output=True, text=True, timeout=120)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def job_counts(output: str) -> Counter:
    """Rule -> number of jobs, from the 'Job stats' table Snakemake prints when it starts."""
    table = output.split("Job stats:", 1)[1].split("\ntotal", 1)[0]
    return Counter({name: int(count)
                    for name, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)})


def jobs_of_slurm_job(log: Path) -> list[str]:
    """'rule:wildcards' of each workflow job a SLURM job ran: the --target-jobs of the Snakemake
    command the job started with (the first command in its log)."""
    command = re.search(r"--target-jobs (.*?) --", log.read_text())
    assert command, f"{log}: no Snakemake command line"
    return command.group(1).split()


def sacct(job_ids: set[str]) -> list[dict[str, str]]:
    fields = ["JobID", "JobName", "Account", "State", "ExitCode"]
    result = subprocess.run(
        ["sacct", "--allocations", "--noheader", "--parsable2", "--jobs", ",".join(job_ids),
         "--format", ",".join(fields)], capture_output=True, text=True, check=True, timeout=60)
    return [dict(zip(fields, line.split("|"), strict=True))
            for line in result.stdout.splitlines()]


@pytest.mark.slow
@pytest.mark.slurm
def test_subject_through_slurm_runs_every_job_in_sbatch_and_equals_the_local_run(
        slurm_cluster, tiny_run, tiny_config, tmp_path):
    targets = sorted(str(path.relative_to(tiny_run))
                     for path in tiny_run.glob("results/*/metrics/**/sub-01.tsv"))
    assert len(targets) >= 2
    environment = {**os.environ, "SBATCH_ACCOUNT": ACCOUNT}
    environment.pop("SBATCH_PARTITION", None)
    command = [
        "timeout", "-s", "KILL", str(RUN_LIMIT_S), *SNAKEMAKE,
        "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
        "--configfile", str(tiny_config), "--profile", str(REPO / "profiles" / "slurm"),
        # CI speed: poll sacct 1 s after submitting (the plugin's default waits 40 s), and cap
        # each (group) job's CPU request at the single node's cores
        # the test cluster has no GPUs (no GRES): the GPU rules run on its CPUs, as on a CPU-only
        # cluster; the training with the local run's threads, so the results are identical
        "--set-resources", "train:gpu=0", "fit_FLAIR_T1w:gpu=0", "--set-threads", "train=2",
        "--slurm-init-seconds-before-status-checks", "1", "--cores", str(os.cpu_count()),
        *targets]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=RUN_LIMIT_S + 30)
    output = result.stdout + result.stderr
    print(f"\nworkflow through SLURM: {time.perf_counter() - start:.1f} s")
    assert result.returncode == 0, output[-6000:]

    submitted = set(re.findall(r"submitted with SLURM jobid (\d+)", output))
    logs = {log.stem: log for log in (tmp_path / "logs" / "slurm").rglob("*.log")}
    assert submitted and set(logs) == submitted  # every SLURM job kept its log
    records = sacct(submitted)
    assert {record["JobID"] for record in records} == submitted
    for record in records:
        assert (record["State"], record["ExitCode"], record["Account"]) == (
            "COMPLETED", "0:0", ACCOUNT), record
    assert len({record["JobName"] for record in records}) == 1  # the jobs of this one run

    ran_in_slurm = [job for log in logs.values() for job in jobs_of_slurm_job(log)]
    assert len(ran_in_slurm) == len(set(ran_in_slurm))
    local = Counter(re.findall(r"^localrule (\w+):", output, re.MULTILINE))
    expected = job_counts(output) - local
    assert Counter(job.split(":")[0] for job in ran_in_slurm) == expected
    assert {"fetch_embedded", "register_reference", "simulate", "evaluate_T1w"} <= set(expected)

    for target in targets:
        assert (tmp_path / target).read_text() == (tiny_run / target).read_text(), target


def test_local_profile_caps_the_gpu_jobs_that_inr_fits_declare(tiny_config, tmp_path):
    profile = yaml.safe_load((REPO / "profiles" / "local" / "config.yaml").read_text())
    assert profile["resources"] == {"gpu": 1} and profile["cores"] == "all"
    config = yaml.safe_load(tiny_config.read_text())
    config["methods"] = {"cubic": {}, "inr-single": {}}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, configfile, "--profile", str(REPO / "profiles" / "local"),
                           "--dry-run", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    fits = re.findall(r"^rule fit_\w+:\n(?:    .*\n)*?    wildcards: .*method=([\w-]+).*\n"
                      r"(?:    .*\n)*?    resources: .*[ ,]gpu=(\d)", result.stdout, re.MULTILINE)
    assert sorted(set(fits)) == [("cubic", "0"), ("inr-single", "1")]
    assert len(fits) == 4
