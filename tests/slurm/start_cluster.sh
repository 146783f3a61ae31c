#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine (its own munged, slurmctld, slurmd; no accounting database), for
# tests/test_slurm.py and for trying the slurm profile by hand. tests/slurm/stop_cluster.sh stops it and leaves the
# machine as it was before: run it when you are done, also after a failed start.
#
#   sudo tests/slurm/start_cluster.sh            # then e.g. `sinfo`, `snakemake --profile slurm ...`
#   sudo tests/slurm/stop_cluster.sh             # stops the daemons, removes what this script added
#
# Needs Debian's slurm-wlm and munge installed (`apt-get install --no-install-recommends slurm-wlm munge`; the test
# installs them, see docs/testing.md). What it adds to the machine, all undone by stop_cluster.sh:
# - $CLUSTER_DIR (default /var/tmp/iftforget-test-cluster): the cluster's munge key, socket and log, SLURM state,
#   spool, logs and pid files, and the undo list of this script;
# - /etc/slurm/slurm.conf (and /etc/slurm if missing). The config must be at that default location: the jobstep
#   executor inside each job drops SLURM_* variables (SLURM_CONF too) before calling srun. A slurm.conf that was
#   there before is moved aside to /etc/slurm/slurm.conf.before-iftforget-test and moved back, unchanged, by
#   stop_cluster.sh;
# - the daemons munged, slurmctld, slurmd (pid files in $CLUSTER_DIR).
# Run again while the cluster is up, it only waits for the node. A cluster left behind by a killed run (daemons
# gone, config still there) is cleaned up first.
#
# Exit status: 0 the cluster is up; 3 it cannot run here (not root, or SLURM/munge not installed); anything else:
# the cluster did not come up (the daemon logs are printed and everything is undone).
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER_DIR="${CLUSTER_DIR:-/var/tmp/iftforget-test-cluster}"
CONF=/etc/slurm/slurm.conf
BACKUP=/etc/slurm/slurm.conf.before-iftforget-test
UNDO="$CLUSTER_DIR/undo"
NODE_READY_TIMEOUT_S="${NODE_READY_TIMEOUT_S:-60}"
export PATH="$PATH:/usr/sbin:/sbin"

log() { echo "[start_cluster] $*" >&2; }

cannot_run() {
    log "cannot run the test cluster here: $*"
    exit 3
}

check_packages() {
    local missing=()
    for binary in slurmctld slurmd sbatch squeue scontrol srun munged munge; do
        command -v "$binary" >/dev/null 2>&1 || missing+=("$binary")
    done
    [[ ${#missing[@]} -eq 0 ]] || cannot_run "missing ${missing[*]} (apt-get install slurm-wlm munge)"
}

running() {  # running PID: the process runs (a zombie does not: the container's init may reap it late)
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ "${stat##*) }" != Z* ]]
}

pid_alive() {  # pid_alive PIDFILE: the daemon that wrote PIDFILE is still running
    [[ -s "$1" ]] && running "$(cat "$1")"
}

ours() {  # ours FILE: FILE is a config this script wrote
    [[ -f "$1" ]] && grep -qx "ClusterName=iftforget-test" "$1"
}

render_config() {
    local host node
    host="$(hostname -s)"
    # `slurmd -C` reports this machine's real CPU layout and memory in slurm.conf syntax.
    node="$(slurmd -C | head -n 1)"
    [[ "$node" == NodeName=* ]] || { log "unexpected 'slurmd -C' output: $node"; exit 1; }
    sed -e "s|@HOST@|$host|" -e "s|@NODE@|$node|" -e "s|@DIR@|$CLUSTER_DIR|g" "$HERE/slurm.conf.in"
}

already_up() {  # the cluster of this script runs with the config it would write now
    pid_alive "$CLUSTER_DIR/slurmctld.pid" && pid_alive "$CLUSTER_DIR/slurmd.pid" \
        && pid_alive "$CLUSTER_DIR/munge/munged.pid" && ours "$CONF" && [[ "$(cat "$CONF")" == "$(render_config)" ]]
}

undo() {  # undo LINE: record how to take back the change about to be made (stop_cluster.sh replays it backwards)
    printf '%s\n' "$*" >>"$UNDO"
}

make_cluster_dir() {
    [[ ! -e "$CLUSTER_DIR" ]] || { log "$CLUSTER_DIR is in the way (not a cluster of this script)"; exit 1; }
    install -d -m 0755 "$CLUSTER_DIR"
    install -d -m 0755 "$CLUSTER_DIR/slurmctld" "$CLUSTER_DIR/slurmd" "$CLUSTER_DIR/log"
    # munged insists on a socket folder that only its user can write and everyone can enter (the key is 0400).
    install -d -o munge -g munge -m 0755 "$CLUSTER_DIR/munge"
}

start_munge() {
    local dir="$CLUSTER_DIR/munge"
    dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
    chown munge:munge "$dir/munge.key"
    chmod 0400 "$dir/munge.key"
    log "starting munged"
    runuser -u munge -- munged --socket="$dir/munge.socket" --key-file="$dir/munge.key" \
        --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munged.seed"
    munge --socket="$dir/munge.socket" -n </dev/null | unmunge --socket="$dir/munge.socket" >/dev/null
}

write_config() {
    local rendered
    rendered="$(render_config)"
    if [[ ! -d /etc/slurm ]]; then
        undo "rmdir /etc/slurm"
        install -d -m 0755 /etc/slurm
    fi
    if [[ -e "$CONF" ]]; then
        [[ ! -e "$BACKUP" ]] || { log "$BACKUP exists: restore it first (tests/slurm/stop_cluster.sh)"; exit 1; }
        log "moving the existing $CONF aside to $BACKUP"
        undo "restore $BACKUP $CONF"
        mv "$CONF" "$BACKUP"
    fi
    log "writing $CONF"
    undo "remove $CONF"
    printf '%s\n' "$rendered" >"$CONF"
}

show_logs() {
    log "the cluster did not come up; daemon logs follow"
    tail -n 30 "$CLUSTER_DIR"/log/*.log "$CLUSTER_DIR/munge/munged.log" >&2 2>/dev/null || true
}

wait_for_node() {  # poll until the node accepts jobs; resume it once if it is DOWN/DRAINED
    local deadline state resumed=0
    deadline=$((SECONDS + NODE_READY_TIMEOUT_S))
    while ((SECONDS < deadline)); do
        state="$(sinfo -h -N -o %T 2>/dev/null | head -n 1 || true)"
        case "$state" in
            idle | mixed | allocated | completing) return 0 ;;
            down* | drain* | fail*)
                if ((resumed == 0)); then
                    scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true
                    resumed=1
                fi
                ;;
        esac
        sleep 0.5
    done
    log "node not ready after ${NODE_READY_TIMEOUT_S}s (state: ${state:-no answer from slurmctld})"
    return 1
}

failed() {
    show_logs
    bash "$HERE/stop_cluster.sh" || true
    exit 1
}

main() {
    [[ $(id -u) -eq 0 ]] || cannot_run "not root (slurmd must run as root)"
    check_packages
    if already_up; then
        wait_for_node || failed
        log "already up: $(sinfo -h -o '%P %D nodes %c CPUs %m MB %T')"
        return 0
    fi
    if [[ -e "$CLUSTER_DIR" ]] || ours "$CONF" || [[ -e "$BACKUP" ]]; then
        log "cleaning up a test cluster left behind by an earlier run"
        bash "$HERE/stop_cluster.sh"
    fi
    make_cluster_dir
    trap failed ERR
    start_munge
    write_config
    log "starting slurmctld"
    # -i: ignore any saved state (the state folder is new anyway).
    slurmctld -i
    log "starting slurmd"
    slurmd
    wait_for_node
    trap - ERR
    log "up: $(sinfo -h -o '%P %D nodes %c CPUs %m MB %T')"
}

main "$@"
