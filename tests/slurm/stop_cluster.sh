#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by tests/slurm/start_cluster.sh (slurmd, slurmctld; munged is left
# running, other software may use it). Only the daemons named in the cluster's pid files are signalled.
set -euo pipefail

log() { echo "[stop_cluster] $*" >&2; }

for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
    [[ -s "$pidfile" ]] || continue
    pid="$(cat "$pidfile")"
    kill -0 "$pid" 2>/dev/null || continue
    log "stopping $(basename "$pidfile" .pid) ($pid)"
    kill "$pid"
    deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || { log "$pid did not stop within 20 s"; exit 1; }
        sleep 0.2
    done
done
