#!/usr/bin/env bash
# Stop the local SLURM cluster of start.sh: cancel leftover jobs, then end each daemon it started,
# found by its PID file (never by name), and remove the configuration files start.sh wrote (never
# another's): left behind, they make every SLURM client on this host wait ~10 s for a controller
# that is gone (Snakemake's SLURM plugin asks `scontrol show config` in every command). State and
# logs stay in $ISOSR_SLURM_STATE.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root

stop_daemon() {  # stop_daemon PIDFILE NAME: SIGTERM, wait up to 20 s, then SIGKILL
  local pid
  running "$1" "$2" || { rm -f "$1"; return 0; }
  pid=$(cat "$1")
  say "stopping $2 ($pid)"
  kill -TERM "$pid"
  for _ in $(seq 40); do
    running "$1" "$2" || break
    sleep 0.5
  done
  if running "$1" "$2"; then
    say "$2 ($pid) ignored SIGTERM; SIGKILL"
    kill -KILL "$pid"
  fi
  rm -f "$1"
}

if running "$PIDS/slurmctld.pid" slurmctld; then
  scancel --quiet --user=root 2>/dev/null || true
fi
stop_daemon "$PIDS/slurmd.pid" slurmd
stop_daemon "$PIDS/slurmctld.pid" slurmctld
stop_daemon "$PIDS/slurmdbd.pid" slurmdbd
stop_daemon "$STATE/mysql/mariadbd.pid" mariadbd
stop_daemon /run/munge/munged.pid munged
for config in /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf; do
  if [ -f "$config" ] && grep -qF "$MARKER" "$config"; then
    say "removing $config"
    rm -f "$config"
  fi
done
exit 0
