#!/usr/bin/env bash
# Start a single-node SLURM cluster on localhost for the isosr cluster test (Debian 12, root only).
#
# Daemons: munged, MariaDB (own data dir, socket only) + slurmdbd (so `sacct` works: the SLURM
# executor plugin polls job states with it), slurmctld, slurmd. Idempotent: rewrites the config,
# starts only the daemons that are not running, and returns once the node accepts jobs.
# Packages: .ci/slurm/install_packages.sh. Stop with .ci/slurm/stop.sh.
#
#   ISOSR_SLURM_STATE    state, logs and pid files   (default /tmp/isosr-slurm)
#   ISOSR_SLURM_ACCOUNT  account of root and $SUDO_USER (default ci)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root

for tool in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sacctmgr sinfo; do
  command -v "$tool" >/dev/null || { echo "[isosr-slurm] $tool not found; run" \
    ".ci/slurm/install_packages.sh first" >&2; exit 1; }
done

wait_until() {  # wait_until SECONDS WHAT COMMAND...: poll COMMAND every 0.5 s
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq $((seconds * 2))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "[isosr-slurm] gave up waiting for $what after ${seconds}s; logs in $LOGS" >&2
  return 1
}

write_if_changed() {  # write_if_changed FILE < content: replace FILE; status 0 if it changed
  local new
  new=$(cat)
  [ -f "$1" ] && [ "$(cat "$1")" = "$new" ] && return 1
  printf '%s\n' "$new" > "$1"
}

host=$(hostname -s)
mkdir -p "$PIDS" "$LOGS" "$STATE/ctld" "$STATE/spool" "$STATE/mysql" /etc/slurm /run/munge \
  /run/mysqld
chown slurm:slurm "$PIDS" "$STATE/ctld"
chown munge:munge /run/munge
chown mysql:mysql "$STATE/mysql" /run/mysqld
chmod 1777 "$LOGS"  # every daemon user writes its own log here (sticky, like /tmp)

# ---- configuration -----------------------------------------------------------------------------
if [ -f /etc/slurm/slurm.conf ] && ! grep -qF "$MARKER" /etc/slurm/slurm.conf; then
  echo "[isosr-slurm] /etc/slurm/slurm.conf was not written by this script; refusing to" \
    "overwrite a real cluster's configuration" >&2
  exit 1
fi
# what slurmd detects (RealMemory must not exceed it), less 10 % for the system
read -r cpus memory < <(slurmd -C | awk -F'[= ]' '/^NodeName/ {
  for (i = 1; i < NF; i++) { if ($i == "CPUs") c = $(i + 1); if ($i == "RealMemory") m = $(i + 1) }
  print c, int(m * 0.9) }')
config_changed=0
write_if_changed /etc/slurm/slurm.conf <<EOF && config_changed=1
$MARKER
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$PIDS/slurmctld.pid
SlurmdPidFile=$PIDS/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
EnforcePartLimits=ALL
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
db_password=isosr-local-only  # MariaDB listens on a root-only socket, no network
write_if_changed /etc/slurm/slurmdbd.conf <<EOF || true
$MARKER
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
LogFile=$LOGS/slurmdbd.log
PidFile=$PIDS/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$db_password
StorageLoc=slurm_acct_db
EOF
chown slurm:slurm /etc/slurm/slurmdbd.conf  # slurmdbd refuses a config others can read
chmod 600 /etc/slurm/slurmdbd.conf

# ---- munge (authentication between every SLURM command and daemon) ----------------------------
if [ ! -s /etc/munge/munge.key ]; then
  say "creating the munge key"
  head -c 1024 /dev/urandom > /etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
fi
if ! running /run/munge/munged.pid munged; then
  say "starting munged"
  runuser -u munge -- munged --force --log-file="$LOGS/munged.log"
fi
wait_until 10 munged bash -c 'munge -n | unmunge'

# ---- MariaDB + slurmdbd (job accounting for sacct) ---------------------------------------------
if [ ! -d "$STATE/mysql/data/mysql" ]; then
  say "initialising MariaDB in $STATE/mysql/data"
  mariadb-install-db --user=mysql --datadir="$STATE/mysql/data" >"$LOGS/mariadb-install.log" 2>&1
fi
if ! running "$STATE/mysql/mariadbd.pid" mariadbd; then
  say "starting mariadbd"
  setsid mariadbd --user=mysql --datadir="$STATE/mysql/data" --skip-networking \
    --socket="$MYSQL_SOCKET" --pid-file="$STATE/mysql/mariadbd.pid" \
    --log-error="$LOGS/mariadb.log" --innodb-buffer-pool-size=64M </dev/null >/dev/null 2>&1 &
fi
wait_until 30 mariadbd mysqladmin --socket="$MYSQL_SOCKET" ping
mariadb --socket="$MYSQL_SOCKET" <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$db_password';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
if ! running "$PIDS/slurmdbd.pid" slurmdbd; then
  say "starting slurmdbd"
  slurmdbd
fi
wait_until 30 slurmdbd sacctmgr --noheader list cluster
sacctmgr --noheader list cluster format=cluster%40 | grep -qw "$CLUSTER" ||
  sacctmgr --immediate add cluster "$CLUSTER" >/dev/null
sacctmgr --noheader list account format=account%40 | grep -qw "$ACCOUNT" ||
  sacctmgr --immediate add account "$ACCOUNT" cluster="$CLUSTER" description="isosr CI" \
    organization=isosr >/dev/null
for user in root ${SUDO_USER:-}; do
  sacctmgr --noheader list association user="$user" account="$ACCOUNT" format=user%40 |
    grep -qw "$user" ||
    sacctmgr --immediate add user "$user" account="$ACCOUNT" defaultaccount="$ACCOUNT" >/dev/null
done

# ---- slurmctld + slurmd ------------------------------------------------------------------------
if running "$PIDS/slurmctld.pid" slurmctld; then
  if [ $config_changed = 1 ]; then
    say "configuration changed: scontrol reconfigure"
    scontrol reconfigure
  fi
else
  say "starting slurmctld"
  slurmctld -i
fi
wait_until 30 slurmctld scontrol ping
if ! running "$PIDS/slurmd.pid" slurmd; then
  say "starting slurmd"
  slurmd
fi
node_ready() { sinfo --noheader --nodes="$host" --format=%T | grep -qE '^(idle|mixed|allocated)$'; }
for _ in $(seq 60); do
  node_ready && break
  # a node that was down when slurmctld last saw it stays down until resumed
  if sinfo --noheader --nodes="$host" --format=%T | grep -qE 'down|drain'; then
    scontrol update nodename="$host" state=resume 2>/dev/null || true
  fi
  sleep 0.5
done
node_ready || { sinfo --Node --long; tail -n 20 "$LOGS/slurmctld.log" "$LOGS/slurmd.log"; exit 1; }
say "cluster $CLUSTER is up (account $ACCOUNT, state in $STATE)"
