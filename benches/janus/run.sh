#!/usr/bin/env bash
# Janus Gateway (Debian package `janus`, 1.1.2) as a baseline SFU for the
# Huiyi load generator, isolated in a private network namespace.
#
#   benches/janus/run.sh [start]   install if missing, set up the netns, start
#                                  Janus, wait until its API answers (idempotent)
#   benches/janus/run.sh stop      stop Janus, delete the netns
#   benches/janus/run.sh restart   stop, then start
#   benches/janus/run.sh status    pid, CPU time, addresses, API check
#   benches/janus/run.sh check     UDP 127.0.0.1 <-> 127.0.0.2 inside the netns,
#                                  then the VideoRoom API check (stdlib Python)
#   benches/janus/run.sh env       print the settings as shell variables
#
# Layout inside the namespace (default name huiyi-bench):
#   lo            127.0.0.1/8 (up) - Janus's HTTP/WS API, Huiyi, load generator
#   jv0 <-> jv1   a veth pair, both ends inside the namespace and up; jv0 holds
#                 127.0.0.2/32. Janus gathers ICE candidates only on jv0
#                 (ice_enforce_list), because it never gathers on `lo`.
# Anything started with `ip netns exec huiyi-bench ...` can then reach the API
# at 127.0.0.1 and exchange UDP with Janus's 127.0.0.2 host candidates from
# sockets bound to 127.0.0.1 (or 127.0.0.2 / 0.0.0.0). Nothing is reachable
# from, or exposed to, the host's own network namespace.
#
# Root is required (netns, sysctls, apt-get). Generated files live in
# benches/janus/.run/ (config, log, pid file); it is recreated on each start.
set -euo pipefail

# ---- settings (override through the environment) ---------------------------
NS="${JANUS_NS:-huiyi-bench}"
VETH="${JANUS_VETH:-jv0}"             # Janus's ICE interface (in the netns)
VETH_PEER="${JANUS_VETH_PEER:-jv1}"   # its peer, also in the netns
MEDIA_IP="${JANUS_MEDIA_IP:-127.0.0.2}"  # the only ICE host candidate address
API_IP="${JANUS_API_IP:-127.0.0.1}"   # HTTP and WebSocket API bind address
HTTP_PORT="${JANUS_HTTP_PORT:-8088}"  # http://API_IP:HTTP_PORT/janus
WS_PORT="${JANUS_WS_PORT:-8188}"      # ws://API_IP:WS_PORT  (subprotocol janus-protocol)
# Comma separated, from: http, websockets. Both by default; an idle transport
# costs nothing measurable.
TRANSPORTS="${JANUS_TRANSPORTS:-http,websockets}"
# Huiyi's default media port is 40000 (+ one per worker) on 127.0.0.1; Janus
# binds 127.0.0.2 only, but keep the ranges disjoint anyway.
RTP_RANGE="${JANUS_RTP_RANGE:-20000-39999}"
DEBUG_LEVEL="${JANUS_DEBUG_LEVEL:-3}" # 0-7; 3 = errors and warnings
SESSION_TIMEOUT="${JANUS_SESSION_TIMEOUT:-60}"  # s without a request (HTTP long-poll or WS keepalive)
# 0 = Janus's default: one event-loop thread per handle (PeerConnection).
# N > 0 = N shared media threads (Janus's `event_loops`), e.g. the core count.
EVENT_LOOPS="${JANUS_EVENT_LOOPS:-0}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="${JANUS_RUN_DIR:-$HERE/.run}"
CONF="$RUN/conf"
PIDFILE="$RUN/janus.pid"
LOG="$RUN/janus.log"
STDOUT_LOG="$RUN/janus.stdout.log"
SYS_LIBDIR="/usr/lib/x86_64-linux-gnu/janus"  # Debian's plugin/transport dir

log() { printf '[janus-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (netns, sysctls, apt-get)"

# ---- (a) install -------------------------------------------------------------
install_janus() {
  if command -v janus >/dev/null 2>&1 && [ -e "$SYS_LIBDIR/plugins/libjanus_videoroom.so" ]; then
    return
  fi
  log "installing janus (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The package's postinst tries to start janus.service; in a container the
  # policy layer refuses, which is harmless. We never use the system service.
  apt-get install -y -qq janus >/dev/null
  command -v janus >/dev/null 2>&1 || die "janus not installed"
}

# ---- (b) namespace, veth, sysctls --------------------------------------------
ns_exec() { ip netns exec "$NS" "$@"; }

setup_netns() {
  if ! ip netns list | awk '{print $1}' | grep -qx "$NS"; then
    log "creating netns $NS"
    ip netns add "$NS"
  fi
  ip -n "$NS" link set lo up
  if ! ip -n "$NS" link show "$VETH" >/dev/null 2>&1; then
    # Created directly inside the namespace: nothing appears on the host.
    ip link add "$VETH" netns "$NS" type veth peer name "$VETH_PEER" netns "$NS"
  fi
  ip -n "$NS" addr replace "$MEDIA_IP/32" dev "$VETH"
  # No IPv6 on the veth ends: no fe80:: link-local addresses for ICE stacks
  # (Janus's or a client's) to gather. ::1 on lo stays.
  ns_exec sysctl -qw "net.ipv6.conf.$VETH.disable_ipv6=1" "net.ipv6.conf.$VETH_PEER.disable_ipv6=1"
  # Both ends up, so jv0 is IFF_UP|IFF_RUNNING (Janus skips interfaces that
  # are not, and any interface flagged IFF_LOOPBACK such as lo).
  ip -n "$NS" link set "$VETH_PEER" up
  ip -n "$NS" link set "$VETH" up
  # These are per-namespace. 127.0.0.2 lives on a non-loopback device, so let
  # the kernel treat 127/8 as routable there and not drop "martian" or
  # "local source" packets. (Traffic between local addresses is delivered via
  # lo anyway, but this keeps it working whatever path the kernel picks.)
  local dev
  for dev in all default lo "$VETH" "$VETH_PEER"; do
    ns_exec sysctl -qw \
      "net.ipv4.conf.$dev.route_localnet=1" \
      "net.ipv4.conf.$dev.accept_local=1" \
      "net.ipv4.conf.$dev.rp_filter=0"
  done
}

# ---- (c) private Janus configuration -----------------------------------------
write_config() {
  rm -rf "$CONF" "$RUN/plugins" "$RUN/transports" "$RUN/events" "$RUN/loggers"
  mkdir -p "$CONF" "$RUN/plugins" "$RUN/transports" "$RUN/events" "$RUN/loggers"

  # Janus loads every *.so in its plugin/transport/event/logger folders, so
  # give it private folders holding only what we want: VideoRoom plus the
  # chosen API transports; no event handlers, no loggers.
  ln -s "$SYS_LIBDIR/plugins/libjanus_videoroom.so" "$RUN/plugins/"
  local t
  for t in ${TRANSPORTS//,/ }; do
    case "$t" in
      http)       ln -s "$SYS_LIBDIR/transports/libjanus_http.so" "$RUN/transports/" ;;
      websockets|ws) ln -s "$SYS_LIBDIR/transports/libjanus_websockets.so" "$RUN/transports/" ;;
      *) die "unknown transport '$t' (http, websockets)" ;;
    esac
  done

  cat >"$CONF/janus.jcfg" <<EOF
# Generated by benches/janus/run.sh - edits are overwritten on start.
general: {
	configs_folder = "$CONF"
	plugins_folder = "$RUN/plugins"
	transports_folder = "$RUN/transports"
	events_folder = "$RUN/events"
	loggers_folder = "$RUN/loggers"
	log_to_stdout = false
	log_to_file = "$LOG"
	debug_level = $DEBUG_LEVEL
	debug_timestamps = true
	debug_colors = false
	server_name = "huiyi-bench-janus"
	# The "local IP" Janus puts in SDP c= lines. Its autodetection skips 127/8
	# and would warn and fall back to 127.0.0.1; ICE gathering is governed by
	# ice_enforce_list below, not by this.
	interface = "$MEDIA_IP"
	session_timeout = $SESSION_TIMEOUT
	event_loops = $EVENT_LOOPS
	# No admin_secret: the Admin API is not exposed by any transport anyway.
	protected_folders = [ "/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/sbin", "/sys", "/usr", "/var" ]
}
certificates: {
	# No cert configured: Janus generates a throwaway DTLS certificate at start.
}
media: {
	ipv6 = false
	rtp_port_range = "$RTP_RANGE"
}
nat: {
	# No STUN/TURN, no 1:1 NAT: host candidates on $VETH ($MEDIA_IP) only.
	nice_debug = false
	full_trickle = false	# half-trickle: Janus's candidates are in its SDP
	ice_lite = false	# full ICE: Janus sends connectivity checks too
	ice_tcp = false
	ignore_mdns = true
	ice_enforce_list = "$VETH"
}
plugins: {
}
transports: {
}
loggers: {
}
events: {
	broadcast = false
}
EOF

  cat >"$CONF/janus.plugin.videoroom.jcfg" <<'EOF'
# Generated by benches/janus/run.sh. No static rooms: the load generator
# creates its rooms through the API ("request": "create").
general: {
	string_room_ids = false
}
EOF

  cat >"$CONF/janus.transport.http.jcfg" <<EOF
# Generated by benches/janus/run.sh.
general: {
	json = "compact"
	base_path = "/janus"
	http = true
	port = $HTTP_PORT
	ip = "$API_IP"
	https = false
	events = false
}
admin: {
	admin_http = false
	admin_https = false
}
cors: {
}
certificates: {
}
EOF

  cat >"$CONF/janus.transport.websockets.jcfg" <<EOF
# Generated by benches/janus/run.sh.
general: {
	json = "compact"
	events = false
	ws = true
	ws_port = $WS_PORT
	ws_ip = "$API_IP"
	wss = false
}
admin: {
	admin_ws = false
	admin_wss = false
}
cors: {
}
certificates: {
}
EOF
}

# ---- (d) start / stop / status -------------------------------------------------
janus_pid() {
  # Prints the pid of our running Janus, or nothing.
  [ -s "$PIDFILE" ] || return 0
  local pid
  pid="$(tr -dc '0-9' <"$PIDFILE")"
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "janus" ]; then
    echo "$pid"
  fi
}

api_info() {
  # GET /janus/info from inside the namespace; prints the JSON.
  if command -v curl >/dev/null 2>&1; then
    ns_exec curl -sf --max-time 2 "http://$API_IP:$HTTP_PORT/janus/info"
  else
    ns_exec python3 -c 'import sys,urllib.request as u; print(u.urlopen(sys.argv[1], timeout=2).read().decode())' \
      "http://$API_IP:$HTTP_PORT/janus/info"
  fi
}

api_ready() {
  if [[ ",$TRANSPORTS," == *",http,"* ]]; then
    api_info 2>/dev/null | grep -q '"janus.plugin.videoroom"'
  else
    # WebSocket only: the listening TCP socket is the best cheap probe.
    ns_exec ss -Hltn "sport = :$WS_PORT" | grep -q LISTEN
  fi
}

start() {
  install_janus
  setup_netns
  local pid
  pid="$(janus_pid)"
  if [ -n "$pid" ]; then
    log "janus already running (pid $pid)"
    api_ready || die "janus (pid $pid) runs but its API does not answer; try: $0 restart"
    print_summary "$pid"
    return
  fi
  mkdir -p "$RUN"
  write_config
  : >"$LOG"
  rm -f "$PIDFILE"
  log "starting janus in netns $NS"
  # Enough descriptors for a few hundred PeerConnections plus API sockets.
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  # `ip netns exec` execs janus in place; Janus writes its own pid file
  # (removed on clean exit). setsid detaches it from our terminal.
  setsid ip netns exec "$NS" janus \
    --config="$CONF/janus.jcfg" --configs-folder="$CONF" \
    --pid-file="$PIDFILE" --disable-colors \
    </dev/null >"$STDOUT_LOG" 2>&1 &

  local i
  for i in $(seq 1 100); do
    pid="$(janus_pid)"
    if [ -n "$pid" ] && api_ready; then
      print_summary "$pid"
      return
    fi
    sleep 0.1
  done
  log "janus did not come up within 10 s; last log lines:"
  tail -n 30 "$LOG" "$STDOUT_LOG" >&2 || true
  exit 1
}

stop() {
  local pid i
  pid="$(janus_pid)"
  if [ -n "$pid" ]; then
    log "stopping janus (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
      [ -d "/proc/$pid" ] || break
      sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
      log "janus ignored SIGTERM for 5 s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PIDFILE"
  if ip netns list | awk '{print $1}' | grep -qx "$NS"; then
    local others
    others="$(ip netns pids "$NS" 2>/dev/null | tr '\n' ' ')"
    if [ -n "${others// /}" ]; then
      # Not ours to kill: the namespace lives on until they exit.
      log "warning: processes still in netns $NS (pids: $others); they keep it alive"
    fi
    ip netns del "$NS"
    log "deleted netns $NS"
  fi
}

print_summary() {
  local pid="$1"
  cat <<EOF
janus pid:       $pid   (pid file $PIDFILE)
netns:           $NS    (run clients with: ip netns exec $NS <cmd>)
ICE candidates:  $MEDIA_IP on $VETH, UDP ports $RTP_RANGE
HTTP API:        http://$API_IP:$HTTP_PORT/janus   (transports: $TRANSPORTS)
WebSocket API:   ws://$API_IP:$WS_PORT  subprotocol "janus-protocol"
log:             $LOG
cpu (ticks):     awk '{print \$14+\$15}' /proc/$pid/stat   (utime+stime, CLK_TCK=$(getconf CLK_TCK)/s)
EOF
}

status() {
  local pid
  pid="$(janus_pid)"
  if [ -z "$pid" ]; then
    echo "janus: not running"
  else
    print_summary "$pid"
    ps -o pid,nlwp,pcpu,rss,etime,cputime,comm -p "$pid"
    if api_ready; then echo "API:             answers"; else echo "API:             NOT answering"; fi
  fi
  if ip netns list | awk '{print $1}' | grep -qx "$NS"; then
    ip -n "$NS" -br addr
  else
    echo "netns $NS: absent"
  fi
}

check() {
  [ -n "$(janus_pid)" ] || die "janus is not running; run: $0 start"
  # A client socket on 127.0.0.1 (lo) exchanges datagrams with a socket on
  # Janus's candidate address, and 127.0.0.1 can be bound (as Huiyi does).
  ns_exec python3 - "$MEDIA_IP" <<'PY'
import socket, sys
media_ip = sys.argv[1]
far = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); far.bind((media_ip, 0)); far.settimeout(2)
near = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); near.bind(("127.0.0.1", 0)); near.settimeout(2)
near.sendto(b"ping", far.getsockname())
data, addr = far.recvfrom(64); assert data == b"ping" and addr == near.getsockname(), addr
far.sendto(b"pong", addr)
data, addr = near.recvfrom(64); assert data == b"pong" and addr == far.getsockname(), addr
print(f"UDP ok: {near.getsockname()} <-> {far.getsockname()}")
PY
  ns_exec python3 "$HERE/videoroom_check.py" --url "http://$API_IP:$HTTP_PORT/janus" >/dev/null \
    && echo "VideoRoom API ok (details: ip netns exec $NS python3 $HERE/videoroom_check.py)"
}

case "${1:-start}" in
  start)   start ;;
  stop)    stop ;;
  restart) stop; start ;;
  status)  status ;;
  check)   check ;;
  env)
    cat <<EOF
JANUS_NS=$NS
JANUS_MEDIA_IP=$MEDIA_IP
JANUS_HTTP_URL=http://$API_IP:$HTTP_PORT/janus
JANUS_WS_URL=ws://$API_IP:$WS_PORT
JANUS_PIDFILE=$PIDFILE
EOF
    ;;
  *) echo "usage: $0 [start|stop|restart|status|check|env]" >&2; exit 2 ;;
esac
