#!/usr/bin/env bash
# Docker's own dockerd, side by side with anything else on this host, as the
# reference for bench/bench_daemon.py.
#
#   contrib/reference-dockerd.sh start    install docker.io if absent, start, import busybox
#   contrib/reference-dockerd.sh stop     stop it (pidfile PID only), clean up what it left
#   contrib/reference-dockerd.sh status   running or not, and how to reach it
#   contrib/reference-dockerd.sh env      print BENCH_B=... / BENCH_B_PIDFILE=... lines
#
# Everything host-global is private:
#   socket      unix:///run/dockerd-ref/docker.sock
#   data root   /var/lib/dockerd-ref           (images, containers, its containerd's root)
#   exec root   /run/dockerd-ref/exec          (its supervised containerd: socket + state)
#   pidfile     /run/dockerd-ref/docker.pid
#   log         /run/dockerd-ref/dockerd.log
#   config      /run/dockerd-ref/daemon.json   (so /etc/docker/daemon.json is not read)
#   bridge      docker0 with --bip 172.28.0.1/16 (REF_BIP to change). If docker0 already
#               exists (someone else's: dockerd-py defaults to docker0 too), a bridge
#               this script creates, dref0, with that address, passed as --bridge.
#               REF_BRIDGE=name forces a name (docker0: Docker creates it; any other:
#               this script creates it). stop deletes the bridge only if it was ours, and
#               the bridges (and rules) of the user networks the running dockerd has.
#   forwarding  --ip-forward=false: net.ipv4.ip_forward and the FORWARD policy are left
#               alone; containers reach the host and each other, not the outside world.
#
# Environment: REF_DIR REF_DATA REF_BIP REF_BRIDGE REF_START_TIMEOUT (defaults below), and
# REF_EXTRA_ARGS: more dockerd flags, e.g. "--add-runtime dpy=/run/dockerd-py/bin/dockerd-py-runc".
set -euo pipefail

REF_DIR=${REF_DIR:-/run/dockerd-ref}
REF_DATA=${REF_DATA:-/var/lib/dockerd-ref}
REF_BIP=${REF_BIP:-172.28.0.1/16}
REF_BRIDGE=${REF_BRIDGE:-auto}     # auto: docker0 if free, else dref0 (made by us)
REF_START_TIMEOUT=${REF_START_TIMEOUT:-60}
SOCK=$REF_DIR/docker.sock
EXEC_ROOT=$REF_DIR/exec
PIDFILE=$REF_DIR/docker.pid
LOG=$REF_DIR/dockerd.log
STATE=$REF_DIR/state            # what existed before we started: used by stop
DOCKERD=/usr/sbin/dockerd
DOCKER_CLI=${DOCKER_CLI:-/usr/local/bin/docker}
[ -x "$DOCKER_CLI" ] || DOCKER_CLI=$(command -v docker || true)
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

log() { printf '[reference_dockerd] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# PIDs of processes whose executable name is one of $@ (reads /proc; kills nothing).
pids_named() {
    local p comm
    for p in /proc/[0-9]*; do
        comm=$(cat "$p/comm" 2>/dev/null) || continue
        for n in "$@"; do if [ "$comm" = "$n" ]; then echo "${p#/proc/}"; fi; done
    done | sort -n
    return 0
}

subnet_of() {   # 172.28.0.1/16 -> 172.28.0.0/16 (python: no ipcalc here)
    python3 -c 'import ipaddress,sys; print(ipaddress.ip_interface(sys.argv[1]).network)' "$1"
}

# alive and not a zombie (PID 1 here is no init: it may not reap an orphan at once)
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

ref_pid() {
    [ -s "$PIDFILE" ] || return 1
    local pid; pid=$(cat "$PIDFILE")
    alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
    echo "$pid"
}

install_docker() {
    if [ -x "$DOCKERD" ] && command -v containerd >/dev/null && command -v containerd-shim-runc-v2 >/dev/null; then
        return 0
    fi
    log "installing Debian's docker.io (brings containerd, runc)"
    local before after newp
    before=$(pids_named dockerd containerd)
    if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]; then
        apt-get update -qq
    fi
    # policy-rc.d (if the host has one that answers 101) keeps invoke-rc.d from
    # starting the services; we check afterwards anyway.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null; }
    after=$(pids_named dockerd containerd)
    newp=$(comm -13 <(echo "$before") <(echo "$after") | grep . || true)
    if [ -n "$newp" ]; then
        log "the package started daemons (PIDs $newp): stopping exactly those"
        # shellcheck disable=SC2086
        kill -TERM $newp 2>/dev/null || true
        for _ in $(seq 50); do
            local alive=0
            for p in $newp; do if alive "$p"; then alive=1; fi; done
            [ $alive = 0 ] && break; sleep 0.2
        done
    else
        log "the package started no dockerd/containerd (no systemd; policy-rc.d)"
    fi
    [ -x "$DOCKERD" ] || die "$DOCKERD missing after install"
}

# iptables -S lines for the tables Docker writes, one "table<TAB>rule" a line.
ipt_dump() {
    local t
    for t in filter nat; do
        iptables -t "$t" -S 2>/dev/null | sed "s/^/$t\t/"
    done
}

start() {
    local pid
    if pid=$(ref_pid); then
        log "already running (pid $pid) on unix://$SOCK"; return 0
    fi
    if [ -d "$STATE" ]; then
        log "the last run did not stop cleanly: cleaning up after it first"
        ( stop )
    fi
    install_docker
    if [ -S /run/containerd/containerd.sock ]; then
        # dockerd 20.10 uses a system containerd when that socket exists instead
        # of supervising its own: that would not be private.
        die "/run/containerd/containerd.sock exists (a system containerd): dockerd would use it instead of its own"
    fi
    local subnet; subnet=$(subnet_of "$REF_BIP")
    mkdir -p "$REF_DIR" "$EXEC_ROOT" "$REF_DATA" "$STATE"
    chmod 700 "$STATE"

    # --- what is there before we start: stop leaves the host as found ---------
    # (a state dir left by a run that died keeps its "before" records: stop uses them)
    if [ "$REF_BRIDGE" = auto ]; then
        if [ -s "$STATE/bridge-ours" ]; then REF_BRIDGE=$(cat "$STATE/bridge-ours")
        elif ! ip link show docker0 >/dev/null 2>&1; then REF_BRIDGE=docker0
        else
            REF_BRIDGE=dref0
            log "docker0 exists and is not ours (dockerd-py's default bridge?): using a bridge of our own, $REF_BRIDGE"
        fi
    fi
    if ip link show "$REF_BRIDGE" >/dev/null 2>&1; then
        if [ -s "$STATE/bridge-ours" ]; then
            log "$REF_BRIDGE left by a previous run of ours: reusing it"
        else
            die "bridge $REF_BRIDGE already exists and is not ours (someone else's docker0?); set REF_BRIDGE=<free name>"
        fi
    else
        rm -f "$STATE/bridge-ours"
        # is the subnet free?  (no route into it, no address in it)
        if python3 - "$subnet" <<'EOF'
import ipaddress, subprocess, sys
net = ipaddress.ip_network(sys.argv[1])
out = subprocess.run(["ip", "-o", "route", "show", "table", "all"], capture_output=True, text=True).stdout
for line in out.splitlines():
    dst = line.split()[0]
    if dst in ("default", "broadcast", "local", "unreachable", "multicast"):
        dst = line.split()[1] if dst != "default" else "0.0.0.0/0"
    try:
        other = ipaddress.ip_network(dst, strict=False)
    except ValueError:
        continue
    if other.prefixlen and other.version == 4 and other.overlaps(net):
        print(line); sys.exit(0)
sys.exit(1)
EOF
        then die "subnet $subnet overlaps a route on this host (above); set REF_BIP"; fi
        if [ "$REF_BRIDGE" != docker0 ]; then
            ip link add "$REF_BRIDGE" type bridge
            ip addr add "$REF_BIP" dev "$REF_BRIDGE"
            ip link set "$REF_BRIDGE" up
        fi
        echo "$REF_BRIDGE" > "$STATE/bridge-ours"
    fi
    printf 'REF_BRIDGE=%q\nREF_BIP=%q\n' "$REF_BRIDGE" "$REF_BIP" > "$STATE/config"   # stop reads it
    [ -e "$STATE/data-mounted.before" ] || { mountpoint -q "$REF_DATA" && echo yes || echo no; } > "$STATE/data-mounted.before"
    [ -e "$STATE/links.before" ] || ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort > "$STATE/links.before"
    # libnetwork keeps the default bridge network (bridge name, subnet) in its store and,
    # on start, recreates the old bridge device before it notices the new flags: a run
    # with another bridge/bip than the last one on this data root starts from a clean store.
    if [ "$(cat "$REF_DATA/.ref-bridge" 2>/dev/null)" != "$REF_BRIDGE $REF_BIP" ]; then
        rm -f "$REF_DATA/network/files/local-kv.db"
        echo "$REF_BRIDGE $REF_BIP" > "$REF_DATA/.ref-bridge"
    fi
    [ -e "$STATE/iptables.before" ] || ipt_dump > "$STATE/iptables.before"
    [ -e "$STATE/ip_forward.before" ] || cat /proc/sys/net/ipv4/ip_forward > "$STATE/ip_forward.before"
    # host-global paths dockerd 20.10 / containerd 1.6 create whatever the flags:
    # /etc/docker/key.json (trust key), /run/docker/plugins, /run/containerd/s
    # (shim sockets), the "docker" cgroup parent in every hierarchy. stop removes
    # those that were not there before (a cgroup only once it is empty).
    if [ ! -e "$STATE/created" ]; then
        : > "$STATE/created"
        for d in /run/containerd /run/containerd/s /run/docker /run/docker/plugins /etc/docker /etc/docker/key.json \
                 /sys/fs/cgroup/docker $(printf '%sdocker ' /sys/fs/cgroup/*/); do
            [ -e "$d" ] || echo "$d" >> "$STATE/created"
        done
    fi
    echo '{}' > "$REF_DIR/daemon.json"

    local netargs=(--bip "$REF_BIP")
    [ "$REF_BRIDGE" != docker0 ] && netargs=(--bridge "$REF_BRIDGE")

    log "starting dockerd on unix://$SOCK (bridge $REF_BRIDGE, $REF_BIP)"
    local t0; t0=$(date +%s.%N)
    # setsid + nohup: it must outlive this shell; its own containerd is a child.
    setsid nohup "$DOCKERD" \
        -H "unix://$SOCK" \
        --data-root "$REF_DATA" \
        --exec-root "$EXEC_ROOT" \
        --pidfile "$PIDFILE" \
        --config-file "$REF_DIR/daemon.json" \
        "${netargs[@]}" \
        --ip-forward=false \
        --storage-driver overlay2 \
        ${REF_EXTRA_ARGS:-} \
        >"$LOG" 2>&1 </dev/null &
    local launcher=$!
    local ok=0
    for _ in $(seq $((REF_START_TIMEOUT * 10))); do
        if curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; then ok=1; break; fi
        kill -0 "$launcher" 2>/dev/null || break
        sleep 0.1
    done
    if [ $ok != 1 ]; then
        tail -30 "$LOG" >&2
        die "dockerd did not answer /_ping (log: $LOG)"
    fi
    local t1; t1=$(date +%s.%N)
    pid=$(ref_pid) || die "no live dockerd in $PIDFILE"
    log "ready: pid $pid, first /_ping after $(python3 -c "print(f'{$t1-$t0:.2f}')") s"
    printf '%s\n' "$(python3 -c "print(f'{$t1-$t0:.3f}')")" > "$REF_DIR/first_ping_seconds"

    if ! DOCKER_HOST="unix://$SOCK" "$DOCKER_CLI" image inspect busybox:latest >/dev/null 2>&1; then
        log "importing busybox:latest from tests/rootfs.py"
        (cd "$REPO" && python3 -c 'import sys; sys.path.insert(0, "tests"); from rootfs import rootfs_tar_bytes; sys.stdout.buffer.write(rootfs_tar_bytes())') \
            | DOCKER_HOST="unix://$SOCK" "$DOCKER_CLI" import --change 'CMD ["sh"]' - busybox:latest >/dev/null
    fi
    DOCKER_HOST="unix://$SOCK" "$DOCKER_CLI" version --format 'server {{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}' >&2 || true
    echo "DOCKER_HOST=unix://$SOCK"
}

# Its bridge networks other than the default one, a line each: "<bridge> <subnet> ...".
# Read from the running daemon at stop (a dockerd that died leaves them unknown: then
# only the default bridge and its rules are cleaned up).
record_user_networks() {
    local ids
    ids=$(DOCKER_HOST="unix://$SOCK" "$DOCKER_CLI" network ls -q --no-trunc --filter driver=bridge 2>/dev/null) || return 0
    [ -n "$ids" ] || return 0
    # shellcheck disable=SC2086
    DOCKER_HOST="unix://$SOCK" "$DOCKER_CLI" network inspect --format \
        '{{.Id}} {{index .Options "com.docker.network.bridge.name"}}|{{range .IPAM.Config}}{{.Subnet}} {{end}}' $ids 2>/dev/null \
    | while IFS='|' read -r head subnets; do
        read -r id name <<<"$head"
        [ -n "$name" ] && [ "$name" != "<no value>" ] || name=br-${id:0:12}
        [ "$name" = "$REF_BRIDGE" ] && continue
        echo "$name $subnets"
    done > "$STATE/networks"
}

# Delete the iptables rules and chains this dockerd added, and nothing else:
# a rule is ours when it is new since start AND names one of our bridges or subnets or
# jumps to a DOCKER* chain that did not exist before start; a chain is ours when
# it is new since start and named DOCKER*; it is deleted only once empty.
cleanup_iptables() {
    [ -e "$STATE/iptables.before" ] || return 0
    local subnet; subnet=$(subnet_of "$REF_BIP")
    ipt_dump > "$STATE/iptables.after"
    local bridges=$REF_BRIDGE subnets=$subnet
    if [ -s "$STATE/networks" ]; then
        bridges="$bridges $(awk '{print $1}' "$STATE/networks" | tr '\n' ' ')"
        subnets="$subnets $(cut -d' ' -f2- "$STATE/networks" | tr '\n' ' ')"
    fi
    python3 - "$STATE/iptables.before" "$STATE/iptables.after" "$bridges" "$subnets" > "$STATE/iptables.undo" <<'EOF'
import re, shlex, sys
before = set(open(sys.argv[1]).read().splitlines())
after = open(sys.argv[2]).read().splitlines()
bridges, subnets = set(sys.argv[3].split()), set(sys.argv[4].split())
new = [l for l in after if l not in before]
new_chains = {}
for l in new:
    t, rule = l.split("\t", 1)
    m = re.match(r"-N (DOCKER\S*)$", rule)
    if m:
        new_chains.setdefault(t, set()).add(m.group(1))
def names_ours(rule):
    words = set(shlex.split(rule))
    return bool(words & bridges or words & subnets)
def generic(rule):
    # Docker's rules that name no bridge: RETURN at the end of its chains, the
    # isolation hops; they go with the chain
    words = shlex.split(rule)
    return words[2:] == ["-j", "RETURN"] or "DOCKER-ISOLATION" in rule
# a new DOCKER* chain is someone else's (kept) if it holds a rule that is neither
# about our bridge/subnet nor one of Docker's generic ones
foreign = set()
for l in new:
    t, rule = l.split("\t", 1)
    if rule.startswith("-A "):
        chain = rule.split()[1]
        if chain in new_chains.get(t, ()) and not names_ours(rule) and not generic(rule):
            foreign.add((t, chain))
mine = {t: {c for c in cs if (t, c) not in foreign} for t, cs in new_chains.items()}
def ours(t, rule):
    words = shlex.split(rule)
    if names_ours(rule):
        return True
    chain = words[1]
    if chain in mine.get(t, ()):
        return True
    return "-j" in words and words[words.index("-j") + 1] in mine.get(t, ())
undo = []
for l in reversed(new):
    t, rule = l.split("\t", 1)
    if rule.startswith("-A ") and ours(t, rule):
        undo.append(f"{t}\t-D {rule[3:]}")
for t, cs in mine.items():
    for c in sorted(cs):
        undo.append(f"{t}\t-F {c}")
for t, cs in mine.items():
    for c in sorted(cs):
        undo.append(f"{t}\t-X {c}")
for t, c in sorted(foreign):
    print(f"[reference_dockerd] keeping chain {c} ({t}): it holds rules that are not this dockerd's", file=sys.stderr)
print("\n".join(undo))
EOF
    local n=0 t rule
    while IFS=$'\t' read -r t rule; do
        [ -n "$rule" ] || continue
        # shellcheck disable=SC2086
        eval "iptables -t $t $rule" 2>/dev/null && n=$((n + 1)) || log "could not: iptables -t $t $rule"
    done < "$STATE/iptables.undo"
    log "iptables: undid $n rule/chain changes"
}

stop() {
    local pid
    # the bridge and subnet this instance was started with, whatever the env says now
    # shellcheck disable=SC1091
    [ -s "$STATE/config" ] && . "$STATE/config"
    if pid=$(ref_pid); then
        record_user_networks
        log "stopping dockerd pid $pid"
        kill -TERM "$pid"
        for _ in $(seq 300); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            log "dockerd $pid still alive after 30 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    else
        log "not running"
    fi
    # its containerd: a child of dockerd that exits with it; the pid file tells.
    local cpid
    for f in "$EXEC_ROOT/containerd/containerd.pid"; do
        [ -s "$f" ] || continue
        cpid=$(cat "$f")
        if alive "$cpid" && [ "$(cat /proc/$cpid/comm 2>/dev/null)" = containerd ] \
           && tr '\0' ' ' < /proc/$cpid/cmdline | grep -q -- "$EXEC_ROOT"; then
            log "its containerd $cpid is still up: stopping it"
            kill -TERM "$cpid"
            for _ in $(seq 100); do alive "$cpid" || break; sleep 0.1; done
        fi
    done
    # A dockerd that died (SIGKILL, crash) leaves its containers running under their
    # shims: a clean SIGTERM stops every container first. Those shims are this
    # reference's (their -address is under our exec root): end their containers
    # (SIGKILL to each shim's children, the container inits), then the shims.
    if ! ref_pid >/dev/null; then
        local sp kids
        for sp in $(pids_named containerd-shim containerd-shim-runc-v2); do
            alive "$sp" && tr '\0' ' ' < "/proc/$sp/cmdline" 2>/dev/null | grep -q -- "-address $EXEC_ROOT/" || continue
            kids=$(cat /proc/"$sp"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . || true)
            log "leftover shim $sp of this reference: killing its container ($(echo $kids)) and it"
            # shellcheck disable=SC2086
            [ -n "$kids" ] && kill -KILL $kids 2>/dev/null || true
            sleep 0.3
            kill -TERM "$sp" 2>/dev/null || true
            for _ in $(seq 50); do alive "$sp" || break; sleep 0.1; done
            alive "$sp" && kill -KILL "$sp" 2>/dev/null || true
        done
    fi
    # mounts under our own roots that a dockerd which did not stop cleanly left
    # (dockerd bind-mounts the data root onto itself to make it shared and undoes
    # that only on a clean shutdown; overlay "merged" dirs, netns, shm)
    if ! ref_pid >/dev/null; then
        local mp keep_root=no
        [ "$(cat "$STATE/data-mounted.before" 2>/dev/null)" = yes ] && keep_root=yes
        { awk '{print $5}' /proc/self/mountinfo | grep -E "^($REF_DATA|$REF_DIR)(/|$)" || true; } | sort -r | uniq \
        | while read -r mp; do
            [ "$mp" = "$REF_DATA" ] && [ $keep_root = yes ] && continue
            umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "could not unmount $mp"
            log "unmounted $mp"
        done
    fi
    [ -d "$STATE" ] || return 0
    # Docker does not remove docker0 nor its iptables chains on shutdown.
    if [ -s "$STATE/bridge-ours" ]; then
        local br; br=$(cat "$STATE/bridge-ours")
        if ip link show "$br" >/dev/null 2>&1; then
            log "removing bridge $br (created by this reference dockerd)"
            ip link del "$br"
        fi
    fi
    # the bridges of its user networks (Docker keeps them on shutdown too)
    local name subnets
    while read -r name subnets; do
        [ -n "$name" ] || continue
        grep -qx "$name" "$STATE/links.before" 2>/dev/null && continue
        if ip link show "$name" type bridge >/dev/null 2>&1; then
            log "removing bridge $name (a user network of this reference dockerd)"
            ip link del "$name"
        fi
    done < <(cat "$STATE/networks" 2>/dev/null || true)
    # any other bridge that appeared while we ran and carries our subnet is ours too
    if [ -s "$STATE/links.before" ]; then
        local l
        for l in $(ip -o link show type bridge | awk -F': ' '{print $2}' | sed 's/@.*//'); do
            grep -qx "$l" "$STATE/links.before" && continue
            if ip -o -4 addr show dev "$l" | grep -q " ${REF_BIP} "; then
                log "removing bridge $l (appeared during this run, carries $REF_BIP)"
                ip link del "$l"
            fi
        done
    fi
    cleanup_iptables
    # net.ipv4.ip_forward: not ours to restore. With --ip-forward=false dockerd
    # never writes it, and another process on the host may have changed it since.
    if [ -s "$STATE/ip_forward.before" ] && [ "$(cat /proc/sys/net/ipv4/ip_forward)" != "$(cat "$STATE/ip_forward.before")" ]; then
        log "note: net.ipv4.ip_forward is $(cat /proc/sys/net/ipv4/ip_forward), was $(cat "$STATE/ip_forward.before") at start (not changed by us; left as is)"
    fi
    # directories Docker/containerd made outside our roots (only if still empty)
    if [ -s "$STATE/created" ]; then
        sort -r "$STATE/created" | while read -r d; do
            if [ -f "$d" ]; then rm -f "$d" && log "removed $d"
            elif [ -d "$d" ]; then
                # a shim that just ended may still be removing its socket in /run/containerd/s
                for _ in 1 2 3 4 5; do rmdir "$d" 2>/dev/null && { log "removed empty $d"; break; }; sleep 0.3; done
                [ -d "$d" ] && log "left $d: not empty ($(ls -A "$d" | head -3 | tr '\n' ' '))"  || true
            fi
        done
    fi
    rm -rf "$STATE"
    # Our own mounts under the exec root (containerd's shm / netns) are gone
    # with the daemon; leave the data root (images) for the next start.
    log "stopped; data kept in $REF_DATA (rm -rf it to start from nothing)"
}

status() {
    local pid
    if pid=$(ref_pid); then
        echo "running: pid $pid, DOCKER_HOST=unix://$SOCK, pidfile $PIDFILE, log $LOG"
    else
        echo "not running"; return 1
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) echo "BENCH_B=unix://$SOCK"; echo "BENCH_B_PIDFILE=$PIDFILE" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
