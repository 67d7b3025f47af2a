#!/usr/bin/env bash
# Starts a single-node Slurm cluster on localhost (munged, slurmctld, slurmd from Debian's packages,
# configured in a temporary folder), runs a sweep locally and as a Slurm job array (prepare job, one
# array task per shard, dependent merge), and checks that the merged results equal the local ones.
#   tests/slurm/slurm_sweep_test.sh SOP_BINARY SWEEP_FILE
# Exit 77 (skipped) only when not root and Slurm is missing; in CI a missing package is a failure.
set -euo pipefail
sop="$(readlink -f "$1")"
sweep="$(readlink -f "$2")"
shards=3

missing=()
for cmd in slurmctld slurmd sbatch squeue sinfo munged; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then
  msg="Slurm is not installed (missing: ${missing[*]}); scripts/install-deps.sh installs slurmctld slurmd slurm-client munge"
  if [ -n "${CI:-}" ] || [ "$(id -u)" -eq 0 ]; then echo "FAIL: $msg" >&2; exit 1; fi
  echo "SKIP: $msg (and not root)"; exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
  [ -n "${CI:-}" ] && { echo "FAIL: the Slurm test must run as root in CI" >&2; exit 1; }
  echo "SKIP: starting slurmctld/slurmd needs root"; exit 77
fi
PATH="$PATH:/usr/sbin:/sbin"

work="$(mktemp -d /tmp/sop-slurm-test.XXXXXX)"
pids=()
started_munged=0
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$started_munged" -eq 1 ] && [ -f "$work/munged.pid" ]; then kill "$(cat "$work/munged.pid")" 2>/dev/null || true; fi
  if [ $rc -ne 0 ]; then
    echo "--- slurmctld.log (tail)"; tail -n 30 "$work/slurmctld.log" 2>/dev/null || true
    echo "--- slurmd.log (tail)"; tail -n 30 "$work/slurmd.log" 2>/dev/null || true
    for f in "$work"/slurm-out/slurm/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

# munge: its own daemon as the munge user, with the key the package generated.
if ! pgrep -x munged >/dev/null 2>&1; then
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
  [ -f /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || /usr/sbin/create-munge-key -f; chown munge:munge /etc/munge/munge.key; }
  touch "$work/munged.pid" && chown munge:munge "$work/munged.pid" "$work"
  runuser -u munge -- munged --pid-file="$work/munged.pid"
  started_munged=1
fi

node="$(hostname -s)"
cpus="$(nproc)"
mkdir -p "$work/state" "$work/spool"
# Explicit 127.0.0.1 addresses: without them slurmctld waits on name resolution. Ports away from the
# defaults so that a cluster already running on the machine is not disturbed.
cat >"$work/slurm.conf" <<CONF
ClusterName=soptest
SlurmctldHost=${node}(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobCompType=jobcomp/filetxt
JobCompLoc=$work/jobcomp.txt
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
slurmctld -D -i >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$node" >"$work/slurmd.out" 2>&1 &
pids+=($!)

for i in $(seq 1 60); do
  state="$(sinfo -h -N -o '%T' 2>/dev/null | head -n1 || true)"
  [ "$state" = "idle" ] && break
  sleep 1
done
[ "$state" = "idle" ] || { echo "FAIL: the node did not come up (state '$state')" >&2; exit 1; }
echo "slurm: node $node idle"

# The reference: the same sweep run locally.
"$sop" sweep "$sweep" --out "$work/local" -j 2 >"$work/local.log" 2>&1 || { cat "$work/local.log"; exit 1; }

"$sop" sweep "$sweep" --out "$work/slurm-out" --slurm --shards "$shards" --cpus-per-task 1 --submit | tee "$work/submit.log"
grep -q "submitted prepare job" "$work/submit.log"

start=$SECONDS
while [ -n "$(squeue -h -o %i 2>/dev/null)" ]; do
  if [ $((SECONDS - start)) -gt 480 ]; then echo "FAIL: jobs still queued after 480 s" >&2; squeue >&2; exit 1; fi
  sleep 1
done
echo "slurm: all jobs left the queue after $((SECONDS - start)) s"
# The job completion log: the prepare job, $shards array tasks and the merge, all COMPLETED.
completed="$(grep -c 'JobState=COMPLETED' "$work/jobcomp.txt" || true)"
[ "$completed" -eq $((shards + 2)) ] || { echo "FAIL: $completed of $((shards + 2)) jobs completed" >&2; cat "$work/jobcomp.txt" >&2; exit 1; }
[ -f "$work/slurm-out/results.csv" ] || { echo "FAIL: the merge job wrote no results.csv" >&2; exit 1; }
if ! cmp "$work/local/results.csv" "$work/slurm-out/results.csv"; then
  diff "$work/local/results.csv" "$work/slurm-out/results.csv" | head -n 20 >&2
  echo "FAIL: merged Slurm results differ from the local run" >&2; exit 1
fi
points=$(($(wc -l <"$work/slurm-out/results.csv") - 1))
echo "PASS: $points points from $shards array tasks merged equal to the local run"
