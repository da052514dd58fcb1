"""The execution profiles: the local GPU cap, and SLURM on a real single-node cluster.

The cluster test starts Debian's SLURM on localhost with .ci/slurm/start.sh (root only; the
packages come from .ci/slurm/install_packages.sh, which .ci/run calls), runs subject 01 of the
tiny end-to-end config through `snakemake --profile profiles/slurm` under a hard
`timeout -s KILL`, checks that every job except the local rules ran inside a SLURM job that sacct
records as completed under the account of $SBATCH_ACCOUNT, and that the metric TSVs equal those
of the local run of the same config. It runs the same targets once more through the profile
without its `groups` / `group-components` and counts with sacct the allocations each subject
costs without and with the groups (printed; `pytest -s -k allocations tests/test_slurm.py`).
It stops the cluster again unless it was already running.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SNAKEMAKE, run_snakemake

from isosr.results import read_metrics

CLUSTER_SCRIPTS = REPO / ".ci" / "slurm"
MARKER = "# written by isosr .ci/slurm/start.sh"
ACCOUNT = os.environ.get("ISOSR_SLURM_ACCOUNT", "ci")  # created by start.sh
TOOLS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct", "scontrol")
RUN_LIMIT_S = 540
PROFILE = REPO / "profiles" / "slurm"


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


def subject_of(job: str) -> str | None:
    """The subject ('<dataset>/<s>') of a 'rule:wildcards' job; None for a cohort job (train)."""
    wildcards = dict(item.split("=", 1) for item in job.partition(":")[2].split(",") if item)
    return f"{wildcards['dataset']}/{wildcards['s']}" if "s" in wildcards else None


@dataclass
class SlurmRun:
    workdir: Path
    output: str
    records: list[dict[str, str]]  # sacct, one per allocation
    jobs: dict[str, list[str]]  # SLURM job id -> the workflow jobs it ran

    def allocations_per_subject(self) -> dict[str | None, int]:
        """Subject -> allocations that ran any of its jobs (None: cohort jobs, e.g. train)."""
        counts: dict[str | None, set[str]] = defaultdict(set)
        for job_id, jobs in self.jobs.items():
            for subject in {subject_of(job) for job in jobs}:
                counts[subject].add(job_id)
        return {subject: len(ids) for subject, ids in counts.items()}


def targets_of(tiny_run: Path) -> list[str]:
    return sorted(str(path.relative_to(tiny_run))
                  for path in tiny_run.glob("results/*/metrics/**/sub-01.tsv"))


def run_through_slurm(workdir: Path, profile: Path, tiny_config: Path, targets: list[str]
                      ) -> SlurmRun:
    environment = {**os.environ, "SBATCH_ACCOUNT": ACCOUNT}
    environment.pop("SBATCH_PARTITION", None)
    command = [
        "timeout", "-s", "KILL", str(RUN_LIMIT_S), *SNAKEMAKE,
        "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(tiny_config), "--profile", str(profile),
        # CI speed: poll sacct 1 s after submitting (the plugin's default waits 40 s), and cap
        # each (group) job's CPU request at the single node's cores
        # the test cluster has no GPUs (no GRES): the GPU rules run on its CPUs, as on a CPU-only
        # cluster; the training with the local run's threads, so the results are identical
        "--set-resources", "train:gpu=0", "fit_FLAIR_T1w:gpu=0", "--set-threads", "train=2",
        "--slurm-init-seconds-before-status-checks", "1", "--cores", str(os.cpu_count()),
        *targets]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, env=environment, capture_output=True,
                            text=True, timeout=RUN_LIMIT_S + 30)
    output = result.stdout + result.stderr
    print(f"\nworkflow through SLURM ({profile.name}): {time.perf_counter() - start:.1f} s")
    assert result.returncode == 0, output[-6000:]

    submitted = set(re.findall(r"submitted with SLURM jobid (\d+)", output))
    logs = {log.stem: log for log in (workdir / "logs" / "slurm").rglob("*.log")}
    assert submitted and set(logs) == submitted  # every SLURM job kept its log
    records = sacct(submitted)
    assert {record["JobID"] for record in records} == submitted
    return SlurmRun(workdir, output, records, {job_id: jobs_of_slurm_job(log)
                                      for job_id, log in logs.items()})


@pytest.fixture(scope="module")
def grouped_run(slurm_cluster, tiny_run, tiny_config, tmp_path_factory) -> SlurmRun:
    """The profile as it is: a subject's short jobs in group allocations."""
    return run_through_slurm(tmp_path_factory.mktemp("grouped"), PROFILE, tiny_config,
                             targets_of(tiny_run))


@pytest.fixture(scope="module")
def ungrouped_run(slurm_cluster, tiny_run, tiny_config, tmp_path_factory) -> SlurmRun:
    """The profile without its groups: one allocation per job."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert {"groups", "group-components"} <= set(profile)
    del profile["groups"], profile["group-components"]
    workdir = tmp_path_factory.mktemp("ungrouped")
    (workdir / "profile").mkdir()
    (workdir / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))
    return run_through_slurm(workdir, workdir / "profile", tiny_config, targets_of(tiny_run))


@pytest.mark.slow
@pytest.mark.slurm
def test_subject_through_slurm_runs_every_job_in_sbatch_and_equals_the_local_run(
        grouped_run, tiny_run):
    for record in grouped_run.records:
        assert (record["State"], record["ExitCode"], record["Account"]) == (
            "COMPLETED", "0:0", ACCOUNT), record
    assert len({record["JobName"] for record in grouped_run.records}) == 1  # this one run

    ran_in_slurm = [job for jobs in grouped_run.jobs.values() for job in jobs]
    assert len(ran_in_slurm) == len(set(ran_in_slurm))
    local = Counter(re.findall(r"^localrule (\w+):", grouped_run.output, re.MULTILINE))
    expected = job_counts(grouped_run.output) - local
    assert Counter(job.split(":")[0] for job in ran_in_slurm) == expected
    assert {"fetch_embedded", "register_reference", "simulate", "evaluate_T1w"} <= set(expected)

    targets = targets_of(tiny_run)  # subject 01's metrics: every method's rows, per scenario
    assert targets and all(len(set(read_metrics([tiny_run / target])["method"])) >= 2
                           for target in targets)
    for target in targets:
        assert (grouped_run.workdir / target).read_text() == (tiny_run / target).read_text(), \
            target


@pytest.mark.slow
@pytest.mark.slurm
def test_groups_cut_the_allocations_a_subject_costs(grouped_run, ungrouped_run):
    """sacct's allocations per subject without the profile's groups (one per job) and with them
    (per subject one for its inputs, one per fit, one for its evaluation)."""
    subjects = {subject_of(job) for jobs in ungrouped_run.jobs.values() for job in jobs} - {None}
    counts = {}
    for name, run in (("without groups", ungrouped_run), ("with groups", grouped_run)):
        allocations = {record["JobID"] for record in run.records}  # sacct --allocations
        counts[name] = run.allocations_per_subject()
        print(f"\n{name}: {len(allocations)} SLURM allocations (sacct), "
              f"{len(allocations) / len(subjects):.1f} per subject; per subject: "
              + ", ".join(f"{subject or 'cohort (train)'} {count}"
                          for subject, count in sorted(counts[name].items(),
                                                       key=lambda item: item[0] or "~")))
    assert set(counts["with groups"]) == set(counts["without groups"]) == subjects | {None}

    assert all(len(jobs) == 1 for jobs in ungrouped_run.jobs.values())
    jobs_of = Counter(subject_of(jobs[0]) for jobs in ungrouped_run.jobs.values())
    assert counts["without groups"] == dict(jobs_of)
    for subject in subjects:
        jobs = [job for jobs in ungrouped_run.jobs.values() for job in jobs
                if subject_of(job) == subject]
        fits = sum(job.startswith("fit_") for job in jobs)
        evaluated = any(job.startswith("evaluate_") for job in jobs)
        assert counts["with groups"][subject] == 1 + fits + evaluated, subject
        assert counts["with groups"][subject] < counts["without groups"][subject], subject
    assert counts["with groups"][None] == counts["without groups"][None] == 1  # the training
    # the tiny config: sub-01 (3 methods) 12 -> 5 (inputs, 3 fits, evaluation), sub-03 (trains
    # the cohort method) 7 -> 1
    assert counts == {"without groups": {"tiny/01": 12, "tiny/03": 7, None: 1},
                      "with groups": {"tiny/01": 5, "tiny/03": 1, None: 1}}
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


def test_slurm_profile_groups_each_subjects_short_jobs_and_no_fit(tiny_config, tmp_path):
    """Dry run through profiles/slurm: per subject one group of its inputs and one of its
    evaluation; fits and the training stay single jobs; every evaluate rule has a group."""
    from isosr.vocabulary import CONTRASTS

    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert {f"evaluate_{contrast}" for contrast in CONTRASTS} <= set(profile["groups"])
    result = run_snakemake(tmp_path, tiny_config, "--profile", str(PROFILE), "--dry-run",
                           timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    grouped: dict[str, set[str]] = defaultdict(set)
    alone, group = Counter(), None
    for line in result.stdout.splitlines():
        if match := re.search(r"Group job (\S+) \(jobs", line):
            group = match.group(1)
        elif match := re.match(r"(    )?(?:local)?rule (\w+):$", line):
            if match.group(1) and group:
                grouped[group].add(match.group(2))
            else:
                group = None
                alone[match.group(2)] += 1
    inputs = {"fetch_embedded", "register_reference", "preprocess_contrast", "simulate"}
    assert grouped == {**{f"tiny_sub-{s}_inputs": inputs for s in ("01", "02", "03")},
                       **{f"tiny_sub-{s}_evaluation": {"segment_truth", "evaluate_T1w"}
                          for s in ("01", "02")}}
    assert {rule for rule in alone if not rule.startswith("fit_")} == {
        "train", "tables", "figure_qualitative", "figure_mi", "figure_metrics", "qc_validity",
        "publish_benchmark", "all"}
    assert alone["fit_FLAIR_T1w"] == 6  # 3 methods x 2 test subjects, one allocation each
