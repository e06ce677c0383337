#!/usr/bin/env bash
# An emulated weak link between two private network namespaces (root only).
#
#   hy-srv-<id>   the server and the unrestricted participants
#                 lo 127.0.0.1/32, em-srv 127.1.0.1/32, route 127.2.0.0/16 via em-srv
#   hy-weak-<id>  the weak participant
#                 lo 127.0.0.1/32, em-weak 127.2.0.1/32, route 127.1.0.0/16 via em-weak
#
# The two TUN devices are the only path between the namespaces; linkem.py
# forwards between them (a = srv, b = weak: a2b is the weak side's downlink)
# with loss, a rate-limited FIFO with tail drop, and a delay. Only loopback
# addresses (127/8) are used; nothing can leave the machine.
#
# Usage:
#   setup.sh run [--id ID] [LINKEM ARGS...] -- COMMAND [ARGS...]
#       Sets up, runs COMMAND (in the host namespace) with the environment
#       below, tears everything down when it ends or on SIGINT/SIGTERM/SIGHUP,
#       and exits with COMMAND's status.
#   setup.sh up [--id ID] [LINKEM ARGS...]
#       Sets up and prints the environment (eval-able); the link stays.
#   setup.sh down ID
#       Kills every process in both namespaces and linkem, deletes the
#       namespaces and the state directory. Idempotent.
#   setup.sh gc
#       `down` for every run whose owner process is gone (after a SIGKILL).
#
# LINKEM ARGS come after the township line's --rate 300k --loss 5% --delay 40ms
# --limit 20 and override them (see linkem.py --help; e.g. --seed 1,
# --start-healed, --loss 0, --a2b-rate 1M).
#
# Environment given to COMMAND (and printed by `up`):
#   HY_NETLINK_ID, HY_SRV_NS, HY_WEAK_NS, HY_SRV_ADDR=127.1.0.1,
#   HY_WEAK_ADDR=127.2.0.1, HY_LINKEM_CTL (linkem's control socket),
#   HY_LINKEM_PID, HY_LINKEM_STATS (JSON counters, written when linkem exits),
#   HY_NETLINK_DIR (state directory: linkem.log, pids).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
SRV_ADDR=127.1.0.1
WEAK_ADDR=127.2.0.1
DEFAULT_LINK=(--rate 300k --loss 5% --delay 40ms --limit 20)

die() { echo "netlink: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, TUN devices)"

state_dir() { echo "/run/huiyi-netlink/$1"; }

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

configure_side() { # ns dev addr peer_net
  local ns=$1 dev=$2 addr=$3 peer=$4
  in_ns "$ns" ip link set lo up
  # lo keeps only 127.0.0.1: the rest of 127/8 must not be local here.
  in_ns "$ns" ip addr del 127.0.0.1/8 dev lo 2>/dev/null || true
  in_ns "$ns" ip addr add 127.0.0.1/32 dev lo
  in_ns "$ns" ip tuntap add dev "$dev" mode tun
  in_ns "$ns" sysctl -q -w "net.ipv6.conf.$dev.disable_ipv6=1" # no IPv6 chatter on the link
  in_ns "$ns" ip link set "$dev" mtu 1500 up
  in_ns "$ns" ip addr add "$addr/32" dev "$dev"
  for conf in all default "$dev" lo; do
    in_ns "$ns" sysctl -q -w "net.ipv4.conf.$conf.route_localnet=1" \
      "net.ipv4.conf.$conf.rp_filter=0" "net.ipv4.conf.$conf.accept_local=1"
  done
  in_ns "$ns" ip route add "$peer" dev "$dev" src "$addr"
  # Sockets bound to lo's 127.0.0.1 (a browser's loopback ICE candidate) must
  # not send into the link: the far side would answer its own 127.0.0.1.
  in_ns "$ns" ip rule add from 127.0.0.1 to "$peer" prohibit pref 100
}

up() { # id linkem-args...
  local id=$1; shift
  [[ "$id" =~ ^[a-z0-9]{1,12}$ ]] || die "id must be 1-12 of [a-z0-9]: $id"
  local srv="hy-srv-$id" weak="hy-weak-$id" dir
  dir=$(state_dir "$id")
  [ ! -e "/run/netns/$srv" ] && [ ! -e "/run/netns/$weak" ] || die "namespaces for $id exist (setup.sh down $id)"
  mkdir -p "$dir"
  echo "${OWNER_PID:-$$}" >"$dir/owner"
  ip netns add "$srv"
  ip netns add "$weak"
  configure_side "$srv" em-srv "$SRV_ADDR" 127.2.0.0/16
  configure_side "$weak" em-weak "$WEAK_ADDR" 127.1.0.0/16
  local link=("${DEFAULT_LINK[@]}" "$@") # later arguments win
  setsid python3 "$HERE/linkem.py" --a-netns "$srv" --a-dev em-srv --b-netns "$weak" --b-dev em-weak \
    --control "$dir/ctl" --stats-file "$dir/linkem.json" "${link[@]}" \
    </dev/null >"$dir/linkem.log" 2>&1 &
  echo $! >"$dir/linkem.pid"
  for _ in $(seq 50); do
    [ -S "$dir/ctl" ] && break
    kill -0 "$(cat "$dir/linkem.pid")" 2>/dev/null || { cat "$dir/linkem.log" >&2; die "linkem did not start"; }
    sleep 0.1
  done
  [ -S "$dir/ctl" ] || die "linkem's control socket did not appear"
  export HY_NETLINK_ID=$id HY_SRV_NS=$srv HY_WEAK_NS=$weak HY_SRV_ADDR=$SRV_ADDR HY_WEAK_ADDR=$WEAK_ADDR \
    HY_LINKEM_CTL="$dir/ctl" HY_LINKEM_PID="$(cat "$dir/linkem.pid")" HY_LINKEM_STATS="$dir/linkem.json" \
    HY_NETLINK_DIR="$dir"
}

kill_ns_pids() { # ns signal
  local pids
  pids=$(ip netns pids "$1" 2>/dev/null || true)
  [ -n "$pids" ] && kill "-$2" $pids 2>/dev/null || true
}

down() { # id
  local id=$1 srv="hy-srv-$1" weak="hy-weak-$1" dir pid
  dir=$(state_dir "$id")
  for ns in "$srv" "$weak"; do kill_ns_pids "$ns" TERM; done
  for _ in $(seq 30); do
    [ -z "$(ip netns pids "$srv" 2>/dev/null)$(ip netns pids "$weak" 2>/dev/null)" ] && break
    sleep 0.1
  done
  for ns in "$srv" "$weak"; do kill_ns_pids "$ns" KILL; done
  if [ -f "$dir/linkem.pid" ]; then
    pid=$(cat "$dir/linkem.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    [ -s "$dir/linkem.log" ] && sed 's/^/  /' "$dir/linkem.log" >&2
  fi
  for ns in "$srv" "$weak"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$dir"
}

print_env() {
  for v in HY_NETLINK_ID HY_SRV_NS HY_WEAK_NS HY_SRV_ADDR HY_WEAK_ADDR HY_LINKEM_CTL HY_LINKEM_PID HY_LINKEM_STATS HY_NETLINK_DIR; do
    echo "export $v=${!v}"
  done
}

cmd=${1:-}
shift || true
id="$(printf '%x%04x' "$$" "$RANDOM" | tail -c 8)"
if [ "${1:-}" = --id ]; then id=$2; shift 2; fi
case "$cmd" in
  up)
    OWNER_PID=$PPID up "$id" "$@"
    print_env
    ;;
  down)
    [ -n "${1:-}" ] || die "usage: setup.sh down ID"
    down "$1"
    ;;
  gc)
    for d in /run/huiyi-netlink/*/; do
      [ -d "$d" ] || continue
      x=$(basename "$d")
      owner=$(cat "$d/owner" 2>/dev/null || echo 0)
      kill -0 "$owner" 2>/dev/null || { echo "netlink: removing leftover $x" >&2; down "$x"; }
    done
    # Namespaces without a state directory (a run killed while setting up).
    for ns in $(ip netns list | awk '{print $1}' | grep -E '^hy-(srv|weak)-[a-z0-9]+$' || true); do
      x=${ns#hy-srv-}; x=${x#hy-weak-}
      [ -d "$(state_dir "$x")" ] || { echo "netlink: removing leftover $ns" >&2; ip netns del "$ns"; }
    done
    ;;
  run)
    link=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do link+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    [ $# -gt 0 ] || die "usage: setup.sh run [--id ID] [LINKEM ARGS...] -- COMMAND [ARGS...]"
    child=
    cleanup() {
      trap - EXIT INT TERM HUP
      if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        kill -TERM "$child" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$child" 2>/dev/null || true
      fi
      down "$id"
    }
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    up "$id" "${link[@]}"
    echo "netlink: $HY_SRV_NS ($SRV_ADDR) <-> linkem <-> $HY_WEAK_NS ($WEAK_ADDR), state in $HY_NETLINK_DIR" >&2
    "$@" &
    child=$!
    set +e
    wait "$child"
    status=$?
    set -e
    child=
    exit "$status"
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
