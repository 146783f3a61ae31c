#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine (munged, slurmctld, slurmd; no accounting database), for
# tests/test_slurm.py and for trying profiles/slurm by hand. Idempotent: run it again and it only does what is
# missing (installs the packages, writes /etc/slurm/slurm.conf, starts the daemons that are not running).
#
#   sudo tests/slurm/start_cluster.sh            # then e.g. `sinfo`, `snakemake --profile profiles/slurm ...`
#   sudo tests/slurm/stop_cluster.sh             # stops the daemons again
#
# Exit status: 0 the cluster is up; 3 SLURM/munge are missing and cannot be installed here (not root, no apt-get,
# or apt-get failed); anything else: the cluster did not come up (the daemon logs are printed).
# The config goes to /etc/slurm/slurm.conf, not a SLURM_CONF file of our own: the jobstep executor inside each job
# drops SLURM_* variables before calling srun, so only the default location is seen everywhere.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONF=/etc/slurm/slurm.conf
NODE_READY_TIMEOUT_S="${NODE_READY_TIMEOUT_S:-60}"

log() { echo "[start_cluster] $*" >&2; }

cannot_install() {
    log "cannot install SLURM here: $*"
    exit 3
}

install_packages() {
    local missing=()
    for binary in slurmctld slurmd sbatch squeue munged; do
        command -v "$binary" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin" command -v "$binary" >/dev/null 2>&1 \
            || missing+=("$binary")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    log "missing ${missing[*]}: installing slurm-wlm and munge with apt-get"
    [[ $(id -u) -eq 0 ]] || cannot_install "not root"
    command -v apt-get >/dev/null 2>&1 || cannot_install "no apt-get (not Debian/Ubuntu)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends slurm-wlm munge >/tmp/start_cluster-apt.log 2>&1; then
        # The package lists may be missing or stale (fresh container): refresh them once and retry.
        apt-get update >>/tmp/start_cluster-apt.log 2>&1 \
            && apt-get install -y --no-install-recommends slurm-wlm munge >>/tmp/start_cluster-apt.log 2>&1 \
            || cannot_install "apt-get failed (see /tmp/start_cluster-apt.log): $(tail -n 3 /tmp/start_cluster-apt.log)"
    fi
}

pid_alive() {  # pid_alive PIDFILE: the daemon that wrote PIDFILE is still running
    [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

start_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0
    fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        install -d -o munge -g munge -m 0700 /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
}

write_config() {  # writes $CONF for this host; sets CONFIG_CHANGED=1 when its content changed
    local host node rendered
    host="$(hostname -s)"
    # `slurmd -C` reports this machine's real CPU layout and memory in slurm.conf syntax.
    node="$(/usr/sbin/slurmd -C | head -n 1)"
    [[ "$node" == NodeName=* ]] || { log "unexpected 'slurmd -C' output: $node"; exit 1; }
    rendered="$(sed -e "s|@HOST@|$host|" -e "s|@NODE@|$node|" "$HERE/slurm.conf.in")"
    install -d -m 0755 /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    if [[ -f "$CONF" ]] && [[ "$(cat "$CONF")" == "$rendered" ]]; then
        return 0
    fi
    log "writing $CONF ($node)"
    printf '%s\n' "$rendered" >"$CONF"
    CONFIG_CHANGED=1
}

stop_daemon() {  # stop_daemon PIDFILE: stop the daemon and wait (bounded) until it is gone
    pid_alive "$1" || return 0
    local pid deadline
    pid="$(cat "$1")"
    kill "$pid"
    deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || { log "daemon $pid did not stop"; exit 1; }
        sleep 0.2
    done
}

show_logs() {
    log "the cluster did not come up; daemon logs follow"
    tail -n 30 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 2>/dev/null || true
}

wait_for_node() {  # poll until the node accepts jobs; resume it once if it is DOWN/DRAINED from an earlier run
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
    show_logs
    log "node not ready after ${NODE_READY_TIMEOUT_S}s (state: ${state:-no answer from slurmctld})"
    exit 1
}

main() {
    [[ $(id -u) -eq 0 ]] || cannot_install "not root (slurmd must run as root)"
    export PATH="$PATH:/usr/sbin:/sbin"
    install_packages
    start_munge
    CONFIG_CHANGED=0
    write_config
    if ((CONFIG_CHANGED)); then
        # A running cluster keeps its old node/partition definition until restarted.
        stop_daemon /run/slurmd.pid
        stop_daemon /run/slurmctld.pid
    fi
    if ! pid_alive /run/slurmctld.pid; then
        log "starting slurmctld"
        # -i: ignore state saved by an earlier cluster with another config (jobs of a previous test run).
        slurmctld -i || { show_logs; exit 1; }
    fi
    if ! pid_alive /run/slurmd.pid; then
        log "starting slurmd"
        slurmd || { show_logs; exit 1; }
    fi
    wait_for_node
    log "up: $(sinfo -h -o '%P %D nodes %c CPUs %m MB %T')"
}

main "$@"
