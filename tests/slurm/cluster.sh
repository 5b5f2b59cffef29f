#!/usr/bin/env bash
# A one-node SLURM cluster on loopback (munged, slurmctld, slurmd, one fake GPU) for testing the SLURM profile.
#
# Usage: tests/slurm/cluster.sh up|down|status|env|purge
#   up      install Debian's slurm-wlm + munge (apt, only when missing), write the configs and start
#           munged, slurmctld and slurmd; idempotent (running daemons with an unchanged config are kept)
#   down    cancel the cluster's jobs and stop exactly the daemons this script started (PID files)
#   status  print daemon and node state; exit 0 when the cluster accepts jobs, 3 otherwise
#   env     print the shell lines that point SLURM's client commands at this cluster
#   purge   down, then delete the state directory
#
# Everything written at run time lives under $SLURM_LOCAL_DIR (default /tmp/effdl-slurm): configs,
# munge key and socket, spool, logs, PID files and wrappers for the client commands. Outside it only
# apt writes. Needs root (the daemons run as root, munged as the munge user). Every wait is bounded.
# Exit codes: 0 ok, 1 failure (see $SLURM_LOCAL_DIR/log), 77 cannot run here (not root / no apt-get).
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/tmp/effdl-slurm}
CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-6818}
CONF="$DIR/etc/slurm.conf"
MUNGE_SOCKET="$DIR/munge/munge.socket.2"
PACKAGES=(slurmctld slurmd slurm-client munge)
# the client commands that get a wrapper (the jobstep plugin strips SLURM_CONF before srun, see wrappers)
CLIENTS=(srun sbatch squeue sacct scontrol sinfo scancel sacctmgr sshare salloc sstat sprio)

log() { printf '[cluster.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Client commands always talk to this cluster and never wait longer than 15 s.
sl() { SLURM_CONF="$CONF" timeout 15 "$@"; }

require_host() {
    if [ "$(id -u)" -ne 0 ]; then log "needs root (daemons run as root; apt-get installs packages)"; exit 77; fi
    if ! command -v apt-get >/dev/null; then log "needs apt-get (Debian's slurm-wlm packages)"; exit 77; fi
}

packages_installed() {
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || return 1
    done
}

install_packages() {
    packages_installed && return 0
    log "installing ${PACKAGES[*]} (apt-get)"
    local apt=(env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o DPkg::Lock::Timeout=300 -y -q)
    # without package lists the install fails: refresh them once and try again
    if ! "${apt[@]}" install --no-install-recommends "${PACKAGES[@]}" >"$DIR/log/apt.log" 2>&1; then
        "${apt[@]}" update >>"$DIR/log/apt.log" 2>&1 || true
        "${apt[@]}" install --no-install-recommends "${PACKAGES[@]}" >>"$DIR/log/apt.log" 2>&1 \
            || { tail -n 20 "$DIR/log/apt.log" >&2; die "apt-get install failed (full log: $DIR/log/apt.log)"; }
    fi
}

# pid_alive NAME: the PID in $DIR/run/NAME.pid runs the program NAME (guards against PID reuse)
pid_alive() {
    local name=$1 pidfile="$DIR/run/$1.pid" pid
    [ -s "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -d "/proc/$pid" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    # a zombie is not running (PID 1 here may reap slowly)
    ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}

# stop_daemon NAME: SIGTERM, wait up to 15 s (slurmctld is slow to exit), then SIGKILL
stop_daemon() {
    local name=$1 pid i
    if pid_alive "$name"; then
        pid=$(cat "$DIR/run/$name.pid")
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 150); do pid_alive "$name" || break; sleep 0.1; done
        if pid_alive "$name"; then log "$name ignored SIGTERM; sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
    fi
    rm -f "$DIR/run/$name.pid"
}

# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds; fail after SECONDS
wait_for() {
    local seconds=$1 i; shift
    for i in $(seq 1 $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    return 1
}

node_state() { sl sinfo -h -n localhost -o %t 2>/dev/null | head -n1; }
node_ready() { case "$(node_state)" in idle|mix|alloc|comp) return 0 ;; *) return 1 ;; esac; }

write_if_changed() {  # write_if_changed PATH MODE < content; returns 0 when the file changed
    local path=$1 mode=$2 tmp
    tmp=$(mktemp "$path.XXXX")
    cat >"$tmp"
    chmod "$mode" "$tmp"
    if [ -f "$path" ] && cmp -s "$tmp" "$path"; then rm -f "$tmp"; return 1; fi
    mv -f "$tmp" "$path"
    return 0
}

write_configs() {  # returns 0 when slurm.conf or gres.conf changed
    local hw cpus sockets cores threads mem changed=1
    hw=$(timeout 15 slurmd -C 2>/dev/null | head -n1) || die "slurmd -C failed"
    cpus=$(grep -o 'CPUs=[0-9]*' <<<"$hw" | cut -d= -f2)
    sockets=$(grep -o 'SocketsPerBoard=[0-9]*' <<<"$hw" | cut -d= -f2)
    cores=$(grep -o 'CoresPerSocket=[0-9]*' <<<"$hw" | cut -d= -f2)
    threads=$(grep -o 'ThreadsPerCore=[0-9]*' <<<"$hw" | cut -d= -f2)
    mem=$(grep -o 'RealMemory=[0-9]*' <<<"$hw" | cut -d= -f2)
    [ -n "$cpus" ] && [ -n "$mem" ] || die "could not read the node's hardware from 'slurmd -C': $hw"
    # MinJobAge keeps finished jobs visible to squeue/scontrol for 30 min: the plugin's squeue status
    # command needs MinJobAge >= 3 x slurm-init-seconds-before-status-checks, and tests read TRES.
    write_if_changed "$CONF" 644 <<EOF && changed=0
# generated by tests/slurm/cluster.sh; edits are overwritten
ClusterName=localcluster
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
MinJobAge=1800
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus Sockets=${sockets:-1} CoresPerSocket=${cores:-$cpus} ThreadsPerCore=${threads:-1} RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    # a fake GPU needs a device File, else slurmd drops it and the node drains; /dev/null is clean
    write_if_changed "$DIR/etc/gres.conf" 644 <<EOF && changed=0
AutoDetect=off
NodeName=localhost Name=gpu Count=1 File=/dev/null
EOF
    return $changed
}

write_wrappers() {
    # The slurm-jobstep plugin drops every SLURM_* variable (SLURM_CONF too) before its srun inside
    # the job; jobs inherit PATH, so these wrappers put the config back.
    local c
    for c in "${CLIENTS[@]}"; do
        write_if_changed "$DIR/bin/$c" 755 <<EOF || true
#!/bin/sh
SLURM_CONF="\${SLURM_CONF:-$CONF}"
export SLURM_CONF
exec /usr/bin/$c "\$@"
EOF
    done
    write_if_changed "$DIR/env.sh" 644 <<EOF || true
# source me: SLURM's client commands then talk to the local test cluster
export SLURM_LOCAL_DIR="$DIR"
export SLURM_CONF="$CONF"
case ":\$PATH:" in *":$DIR/bin:"*) ;; *) export PATH="$DIR/bin:\$PATH" ;; esac
EOF
}

start_munged() {
    if pid_alive munged; then return 0; fi
    install -d -o munge -g munge -m 0755 "$DIR/munge"  # 0700 makes the socket inaccessible
    if [ ! -s "$DIR/munge/munge.key" ]; then
        if [ -s /etc/munge/munge.key ]; then cp /etc/munge/munge.key "$DIR/munge/munge.key"
        else timeout 30 mungekey --create --keyfile="$DIR/munge/munge.key"; fi
    fi
    chown munge:munge "$DIR/munge/munge.key"; chmod 0600 "$DIR/munge/munge.key"
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    log "starting munged"
    timeout 30 runuser -u munge -- /usr/sbin/munged --socket="$MUNGE_SOCKET" \
        --key-file="$DIR/munge/munge.key" --pid-file="$DIR/munge/munged.pid" \
        --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" \
        || die "munged did not start (log: $DIR/munge/munged.log)"
    # munged writes its PID file as the munge user inside its own directory; keep all PIDs in run/
    wait_for 10 test -s "$DIR/munge/munged.pid" || die "munged wrote no PID file"
    cp "$DIR/munge/munged.pid" "$DIR/run/munged.pid"
    wait_for 10 munge_ok || die "munge does not encode/decode (log: $DIR/munge/munged.log)"
}

munge_ok() { timeout 5 munge -S "$MUNGE_SOCKET" -n | timeout 5 unmunge -S "$MUNGE_SOCKET" >/dev/null; }

start_slurmctld() {
    if pid_alive slurmctld; then return 0; fi
    log "starting slurmctld"
    SLURM_CONF="$CONF" timeout 30 slurmctld || die "slurmctld did not start (log: $DIR/log/slurmctld.log)"
    wait_for 20 sl scontrol ping || { tail -n 20 "$DIR/log/slurmctld.log" >&2; die "slurmctld does not answer 'scontrol ping'"; }
    wait_for 10 pid_alive slurmctld || die "slurmctld wrote no PID file"
}

start_slurmd() {
    if pid_alive slurmd; then return 0; fi
    log "starting slurmd"
    SLURM_CONF="$CONF" timeout 30 slurmd -N localhost || die "slurmd did not start (log: $DIR/log/slurmd.log)"
    wait_for 10 pid_alive slurmd || die "slurmd wrote no PID file"
}

cmd_up() {
    require_host
    mkdir -p "$DIR"/{etc,bin,run,log,spool/ctld,spool/d}
    install_packages
    local restart=1
    write_configs && restart=0
    write_wrappers
    start_munged
    if [ $restart -eq 0 ] && { pid_alive slurmctld || pid_alive slurmd; }; then
        log "configuration changed: restarting slurmctld and slurmd"
        stop_daemon slurmd; stop_daemon slurmctld
    fi
    start_slurmctld
    start_slurmd
    if ! wait_for 20 node_ready; then
        # a node drained by an earlier bad config (e.g. a file-less GPU) comes back with resume
        sl scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
        wait_for 20 node_ready || { tail -n 20 "$DIR/log/slurmd.log" >&2; die "node localhost is '$(node_state)', not idle"; }
    fi
    log "up: source $DIR/env.sh (node localhost: $(node_state), gres $(sl sinfo -h -n localhost -o %G))"
}

# slurmstepd processes are forked by our slurmd and inherit its SLURM_CONF: that identifies them exactly
our_stepds() {
    local p
    for p in $(pgrep -x slurmstepd 2>/dev/null || true); do
        { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qx "SLURM_CONF=$CONF" && echo "$p"
    done
    return 0
}

cmd_down() {
    local p
    if pid_alive slurmctld; then
        sl scancel --quiet --user=root >/dev/null 2>&1 || true
        wait_for 15 sh -c "[ -z \"\$(SLURM_CONF='$CONF' timeout 5 squeue -h -t R,CG,PD 2>/dev/null)\" ]" || log "jobs still listed after scancel"
    fi
    stop_daemon slurmd
    for p in $(our_stepds); do log "killing leftover slurmstepd $p"; kill -KILL "$p" 2>/dev/null || true; done
    stop_daemon slurmctld
    stop_daemon munged
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    log "down"
}

cmd_status() {
    local d ok=0
    for d in munged slurmctld slurmd; do
        if pid_alive "$d"; then echo "$d: running (pid $(cat "$DIR/run/$d.pid"))"; else echo "$d: stopped"; ok=3; fi
    done
    if [ $ok -eq 0 ]; then
        echo "node localhost: $(node_state) $(sl sinfo -h -n localhost -o %G 2>/dev/null)"
        node_ready || ok=3
    fi
    return $ok
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) echo "export SLURM_LOCAL_DIR=\"$DIR\" SLURM_CONF=\"$CONF\" PATH=\"$DIR/bin:\$PATH\"" ;;
    purge) cmd_down; rm -rf -- "$DIR"; log "removed $DIR" ;;
    *) echo "usage: $0 up|down|status|env|purge" >&2; exit 2 ;;
esac
