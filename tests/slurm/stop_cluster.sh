#!/usr/bin/env bash
# Stop the single-node SLURM cluster of tests/slurm/start_cluster.sh and leave the machine as it was before it
# started: the cluster's jobs are cancelled, its daemons (slurmd, slurmctld, munged; only those named in the pid
# files under $CLUSTER_DIR) stopped, /etc/slurm/slurm.conf removed or the one that was there before moved back
# unchanged, /etc/slurm removed if start_cluster.sh created it, and $CLUSTER_DIR (state, spool, logs, munge key)
# deleted. Safe to run at any time, also after a failed or killed start (it undoes what was done) and when no
# cluster runs (it does nothing). A leftover slurm.conf of this cluster with its folder gone (a reboot) is removed.
set -euo pipefail

CLUSTER_DIR="${CLUSTER_DIR:-/var/tmp/iftforget-test-cluster}"
CONF=/etc/slurm/slurm.conf
BACKUP=/etc/slurm/slurm.conf.before-iftforget-test
UNDO="$CLUSTER_DIR/undo"
STOP_TIMEOUT_S="${STOP_TIMEOUT_S:-30}"
export PATH="$PATH:/usr/sbin:/sbin"

log() { echo "[stop_cluster] $*" >&2; }

ours() {  # ours FILE: FILE is a config start_cluster.sh wrote
    [[ -f "$1" ]] && grep -qx "ClusterName=iftforget-test" "$1"
}

running() {  # running PID: the process runs (a zombie does not: the container's init may reap it late)
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ "${stat##*) }" != Z* ]]
}

wait_gone() {  # wait_gone PID...: poll (bounded) until none of the processes runs any more
    local deadline=$((SECONDS + STOP_TIMEOUT_S)) pid
    for pid in "$@"; do
        while running "$pid"; do
            ((SECONDS < deadline)) || { log "process $pid did not stop within ${STOP_TIMEOUT_S}s"; return 1; }
            sleep 0.1
        done
    done
}

cancel_jobs() {  # jobs of this cluster still queued or running (a test that failed mid-way); never another's
    ours "$CONF" || return 0
    local jobs
    jobs="$(timeout 20 squeue -h -o %i 2>/dev/null || true)"
    [[ -n "$jobs" ]] || return 0
    log "cancelling jobs $(echo $jobs)"
    # shellcheck disable=SC2086
    timeout 20 scancel $jobs 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while [[ -n "$(timeout 20 squeue -h -t PD,R,CG,S -o %i 2>/dev/null || true)" ]]; do
        ((SECONDS < deadline)) || { log "jobs still running after ${STOP_TIMEOUT_S}s"; return 1; }
        sleep 0.2
    done
}

stop_daemons() {
    local pidfile pid
    for pidfile in "$CLUSTER_DIR/slurmd.pid" "$CLUSTER_DIR/slurmctld.pid" "$CLUSTER_DIR/munge/munged.pid"; do
        [[ -s "$pidfile" ]] || continue
        pid="$(cat "$pidfile")"
        running "$pid" || continue
        log "stopping $(basename "$pidfile" .pid) ($pid)"
        kill "$pid"
        # slurmd before slurmctld before munged: each may still talk to the next while it shuts down.
        wait_gone "$pid"
    done
}

undo_changes() {  # replay start_cluster.sh's undo list backwards
    [[ -f "$UNDO" ]] || return 0
    local action a b
    while read -r action a b; do
        case "$action" in
            remove) if ours "$a"; then rm -f "$a"; fi ;;
            restore) if [[ -e "$a" ]]; then log "moving $a back to $b"; mv "$a" "$b"; fi ;;
            rmdir) rmdir "$a" 2>/dev/null || log "$a is not empty: left in place" ;;
        esac
    done < <(tac "$UNDO")
}

main() {
    [[ $(id -u) -eq 0 ]] || { log "needs root"; exit 1; }
    local status=0
    cancel_jobs || status=1
    if [[ -d "$CLUSTER_DIR" ]]; then
        stop_daemons || status=1
        undo_changes || status=1
    fi
    # Without the undo list (its folder lost with a reboot, or never written), by what the files say.
    if ours "$CONF"; then
        rm -f "$CONF"
    fi
    if [[ -e "$BACKUP" && ! -e "$CONF" ]]; then
        log "moving $BACKUP back to $CONF"
        mv "$BACKUP" "$CONF"
    fi
    rm -rf "$CLUSTER_DIR"
    return "$status"
}

main "$@"
