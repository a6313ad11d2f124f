#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, everything under DIR: for the
# sweep --slurm test and for trying the Slurm backend by hand.
#
#   scripts/slurm-localhost.sh start DIR   # prints SLURM_CONF=DIR/slurm.conf
#   SLURM_CONF=DIR/slurm.conf tnsflow sweep --slurm --set seed=1..4
#   scripts/slurm-localhost.sh stop DIR
#
# Needs root and Debian's slurm-wlm and munge (apt-get install slurm-wlm munge).
# Ports come from SLURMCTLD_PORT / SLURMD_PORT (default 6817 / 6818).
set -euo pipefail

cmd=${1:?usage: $0 start|stop DIR}
dir=$(realpath -m "${2:?usage: $0 start|stop DIR}")

stop() {
  for name in slurmd slurmctld munged; do
    if [ -f "$dir/$name.pid" ]; then
      kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
    fi
  done
  # Wait for them to go, so the ports are free for the next cluster.
  for _ in $(seq 50); do
    alive=0
    for name in slurmd slurmctld munged; do
      [ -f "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null && alive=1
    done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  rm -f "$dir"/*.pid
}

case "$cmd" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { echo "$0: needs root (slurmd runs jobs as their user)" >&2; exit 1; }
for program in munged slurmctld slurmd sbatch; do
  command -v "$program" >/dev/null || { echo "$0: $program not found; apt-get install slurm-wlm munge" >&2; exit 1; }
done

host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
mkdir -p "$dir/munge" "$dir/state" "$dir/spool"
# munged runs as the munge user and checks the folders above its files.
chmod 755 "$dir"
chown munge:munge "$dir/munge"
chmod 755 "$dir/munge"
if [ ! -f "$dir/munge/munge.key" ]; then
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chown munge:munge "$dir/munge/munge.key"
  chmod 400 "$dir/munge/munge.key"
fi
runuser -u munge -- munged \
  --key-file="$dir/munge/munge.key" \
  --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munge/munged.pid" \
  --log-file="$dir/munge/munged.log" \
  --seed-file="$dir/munge/munged.seed"
for _ in $(seq 50); do [ -S "$dir/munge/munge.socket" ] && break; sleep 0.1; done
cp "$dir/munge/munged.pid" "$dir/munged.pid"

# Addresses are given, not looked up: a fresh machine's hostname may not resolve.
cat > "$dir/slurm.conf" <<CONF
ClusterName=tnsflow-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SchedulerType=sched/backfill
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
# Ready when the node is idle.
for _ in $(seq 150); do
  if sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle; then
    echo "SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.2
done
echo "$0: the node did not come up; logs in $dir" >&2
sinfo -N >&2 || true
tail -20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
stop
exit 1
