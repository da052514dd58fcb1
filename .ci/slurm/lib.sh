# shellcheck shell=bash disable=SC2034  # sourced: the scripts that source it use these names
# Shared by the scripts here: where the local cluster keeps its state, and process checks.
STATE=${ISOSR_SLURM_STATE:-/tmp/isosr-slurm}
ACCOUNT=${ISOSR_SLURM_ACCOUNT:-ci}
CLUSTER=isosr-local
PIDS=$STATE/pid
LOGS=$STATE/log
MYSQL_SOCKET=/run/mysqld/mysqld.sock
MARKER="# written by isosr .ci/slurm/start.sh"

say() { echo "[isosr-slurm] $*"; }

running() {  # running PIDFILE NAME: the pid in PIDFILE is a live (not zombie) process called NAME
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] &&
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

require_root() {
  [ "$(id -u)" = 0 ] || { echo "[isosr-slurm] must run as root" >&2; exit 1; }
}
