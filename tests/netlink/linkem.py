#!/usr/bin/env python3
"""linkem: a user-space link emulator between two network namespaces.

This kernel has no netem, so an impaired link (a township line, a 3G phone)
is emulated here: one TUN device in each of two network namespaces, and this
process forwarding the IP packets between them. Per direction it applies, in
this order:

  1. random loss at enqueue            (--loss, e.g. 0.05 or 5%)
  2. a FIFO with a packet limit         (--limit, tail drop when full)
  3. a rate-limited serialiser          (--rate, e.g. 300k: a packet of N bytes
                                         occupies the line for N*8/rate seconds)
  4. a fixed one-way delay              (--delay, e.g. 40ms)

The queue holds every accepted packet not yet fully serialised (the one on
the line included); a packet arriving when it holds --limit packets is
dropped. Delivery never reorders packets, also across a parameter change.

Devices: one process, two namespaces. The TUN devices are opened by name in
each namespace (setns(2) on /run/netns/NAME, then back), so they may already
exist as persistent devices configured by setup.sh (`ip tuntap add mode tun`),
or are created here (non-persistent: they vanish when this process exits).
Alternatively pass already opened TUN file descriptors (--a-fd/--b-fd).
Side "a" and side "b": a2b is a→b, b2a is b→a (setup.sh: a = server, b = weak,
so a2b is the weak venue's downlink).

Run-time control (the test heals the link mid-run):
  * SIGUSR1: heal (no rate limit, no queue limit, no loss, no delay);
    SIGUSR2: back to the shaped parameters given on the command line.
  * --control PATH: a UNIX stream socket taking one command per line, each
    answered with one line of JSON:
        heal | shape | stats | params
        set [a2b|b2a|both] [rate=300k] [loss=5%] [delay=40ms] [limit=20]
    (rate=0 or rate=inf: unlimited; limit=0: no limit)
    e.g.  echo heal | socat - UNIX-CONNECT:PATH
          python3 linkem.py --send PATH heal
  * SIGTERM/SIGINT: print per-direction counters and exit
    (also written as JSON to --stats-file).

Python 3 standard library only; Linux; needs CAP_NET_ADMIN (root).
"""

import argparse
import ctypes
import errno
import fcntl
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from collections import deque

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000


def log(msg):
    print(f"linkem {time.strftime('%H:%M:%S')}: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- parameters

def parse_rate(s):
    """'300k' / '1.5M' / '300000' / '0' / 'inf' → bits per second (None = unlimited)."""
    s = str(s).strip().lower().removesuffix('bit/s').removesuffix('bps').removesuffix('bit')
    if s in ('', '0', 'inf', 'none', 'unlimited'):
        return None
    mult = {'k': 1e3, 'm': 1e6, 'g': 1e9}.get(s[-1], 1)
    if s[-1] in 'kmg':
        s = s[:-1]
    v = float(s) * mult
    return v if v > 0 else None


def parse_loss(s):
    s = str(s).strip()
    v = float(s[:-1]) / 100 if s.endswith('%') else float(s)
    if not 0 <= v <= 1:
        raise ValueError(f'loss {s} not in [0, 1]')
    return v


def parse_delay(s):
    """'40ms' / '40' (ms) / '0.04s' → seconds."""
    s = str(s).strip().lower()
    if s.endswith('ms'):
        return float(s[:-2]) / 1000
    if s.endswith('s'):
        return float(s[:-1])
    return float(s) / 1000


def parse_limit(s):
    v = int(s)
    return v if v > 0 else None


class Params:
    def __init__(self, rate=None, loss=0.0, delay=0.0, limit=None):
        self.rate, self.loss, self.delay, self.limit = rate, loss, delay, limit

    def copy(self):
        return Params(self.rate, self.loss, self.delay, self.limit)

    def set(self, key, value):
        if key == 'rate':
            self.rate = parse_rate(value)
        elif key == 'loss':
            self.loss = parse_loss(value)
        elif key == 'delay':
            self.delay = parse_delay(value)
        elif key == 'limit':
            self.limit = parse_limit(value)
        else:
            raise ValueError(f'unknown parameter {key}')

    def as_dict(self):
        return {'rate_bps': self.rate, 'loss': self.loss, 'delay_ms': round(self.delay * 1000, 3),
                'limit_pkts': self.limit}

    def __str__(self):
        rate = 'unlimited' if self.rate is None else f'{self.rate / 1000:g} kbit/s'
        limit = 'no limit' if self.limit is None else f'{self.limit} pkts'
        return f'{rate}, loss {self.loss * 100:g}%, delay {self.delay * 1000:g} ms, queue {limit}'


HEALED = Params()


# ---------------------------------------------------------------- one direction

class Direction:
    """One direction of the link: loss, FIFO with tail drop, serialiser, delay line."""

    def __init__(self, name, params, overhead, rng):
        self.name = name
        self.params = params
        self.overhead = overhead
        self.rng = rng
        self.backlog = deque()  # finish times of accepted packets not yet serialised
        self.line = deque()     # (deliver_at, packet), deliver_at non-decreasing
        self.last_finish = 0.0
        self.last_deliver = 0.0
        self.c = {'received_pkts': 0, 'received_bytes': 0,
                  'forwarded_pkts': 0, 'forwarded_bytes': 0,
                  'dropped_loss_pkts': 0, 'dropped_queue_pkts': 0, 'dropped_queue_bytes': 0,
                  'write_errors': 0, 'max_backlog_pkts': 0, 'max_sojourn_ms': 0.0}

    def enqueue(self, pkt, now):
        c = self.c
        p = self.params
        c['received_pkts'] += 1
        c['received_bytes'] += len(pkt)
        if p.loss > 0 and self.rng.random() < p.loss:
            c['dropped_loss_pkts'] += 1
            return
        self._drain_backlog(now)
        if p.limit is not None and len(self.backlog) >= p.limit:
            c['dropped_queue_pkts'] += 1
            c['dropped_queue_bytes'] += len(pkt)
            return
        start = max(now, self.last_finish)
        finish = start + ((len(pkt) + self.overhead) * 8 / p.rate if p.rate else 0.0)
        self.last_finish = finish
        deliver = max(finish + p.delay, self.last_deliver)
        self.last_deliver = deliver
        if finish > now:
            self.backlog.append(finish)
            c['max_backlog_pkts'] = max(c['max_backlog_pkts'], len(self.backlog))
        sojourn = (deliver - now) * 1000
        if sojourn > c['max_sojourn_ms']:
            c['max_sojourn_ms'] = round(sojourn, 3)
        self.line.append((deliver, pkt))

    def _drain_backlog(self, now):
        b = self.backlog
        while b and b[0] <= now:
            b.popleft()

    def next_due(self):
        return self.line[0][0] if self.line else None

    def deliver(self, fd, now):
        line = self.line
        c = self.c
        while line and line[0][0] <= now:
            _, pkt = line.popleft()
            try:
                os.write(fd, pkt)
                c['forwarded_pkts'] += 1
                c['forwarded_bytes'] += len(pkt)
            except OSError:
                c['write_errors'] += 1

    def stats(self, now):
        self._drain_backlog(now)
        return dict(self.c, backlog_pkts=len(self.backlog), in_flight_pkts=len(self.line),
                    params=self.params.as_dict())


# ---------------------------------------------------------------- TUN devices

def setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f'setns: {os.strerror(e)}')


def open_tun(name, netns=None):
    """Opens (creating or attaching to) TUN device `name`, in netns `netns` if given."""
    home = os.open('/proc/self/ns/net', os.O_RDONLY)
    try:
        if netns:
            path = netns if '/' in netns else f'/run/netns/{netns}'
            nsfd = os.open(path, os.O_RDONLY)
            try:
                setns(nsfd)
            finally:
                os.close(nsfd)
        fd = os.open('/dev/net/tun', os.O_RDWR)
        ifr = struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI)
        fcntl.ioctl(fd, TUNSETIFF, ifr)
    finally:
        if netns:
            setns(home)
        os.close(home)
    os.set_blocking(fd, False)
    return fd


# ---------------------------------------------------------------- the emulator

class Emulator:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        shaped = Params(parse_rate(args.rate), parse_loss(args.loss), parse_delay(args.delay),
                        parse_limit(args.limit))
        self.shaped = {'a2b': shaped.copy(), 'b2a': shaped.copy()}
        for d in ('a2b', 'b2a'):
            for key in ('rate', 'loss', 'delay', 'limit'):
                v = getattr(args, f'{d}_{key}')
                if v is not None:
                    self.shaped[d].set(key, v)
        self.dirs = {d: Direction(d, (HEALED if args.start_healed else self.shaped[d]).copy(),
                                  args.overhead, self.rng) for d in ('a2b', 'b2a')}
        self.state = 'healed' if args.start_healed else 'shaped'
        self.fd_a = args.a_fd if args.a_fd is not None else open_tun(args.a_dev, args.a_netns)
        self.fd_b = args.b_fd if args.b_fd is not None else open_tun(args.b_dev, args.b_netns)
        for fd in (self.fd_a, self.fd_b):
            os.set_blocking(fd, False)
        self.stats_file = args.stats_file
        self.started = time.monotonic()
        self.events = []  # (seconds since start, what)
        self.stop = False
        self.pending_signals = []
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(s, lambda n, _f: self.pending_signals.append(n))
        self.ctl = None
        self.ctl_path = args.control
        self.clients = {}  # socket → buffered bytes
        if args.control:
            try:
                os.unlink(args.control)
            except FileNotFoundError:
                pass
            self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.ctl.bind(args.control)
            self.ctl.listen(8)
            self.ctl.setblocking(False)
        log(f"a2b: {self.dirs['a2b'].params}; b2a: {self.dirs['b2a'].params} ({self.state})")

    # -- control

    def note(self, what):
        self.events.append([round(time.monotonic() - self.started, 3), what])
        log(what)

    def heal(self):
        for d in self.dirs.values():
            d.params = HEALED.copy()
        self.state = 'healed'
        self.note('healed: unlimited, no loss, no delay')

    def shape(self):
        for name, d in self.dirs.items():
            d.params = self.shaped[name].copy()
        self.state = 'shaped'
        self.note(f"shaped: a2b {self.dirs['a2b'].params}; b2a {self.dirs['b2a'].params}")

    def stats(self):
        now = time.monotonic()
        return {'state': self.state, 'uptime_s': round(now - self.started, 3),
                'a2b': self.dirs['a2b'].stats(now), 'b2a': self.dirs['b2a'].stats(now),
                'events': self.events}

    def command(self, line):
        words = line.split()
        if not words:
            return {'ok': False, 'error': 'empty command'}
        cmd, rest = words[0].lower(), words[1:]
        try:
            if cmd == 'heal':
                self.heal()
            elif cmd == 'shape':
                self.shape()
            elif cmd == 'stats':
                return dict(ok=True, **self.stats())
            elif cmd == 'params':
                pass
            elif cmd == 'set':
                targets = ['a2b', 'b2a']
                if rest and rest[0] in ('a2b', 'b2a', 'both'):
                    targets = ['a2b', 'b2a'] if rest[0] == 'both' else [rest[0]]
                    rest = rest[1:]
                for t in targets:
                    p = self.dirs[t].params.copy()
                    for kv in rest:
                        k, _, v = kv.partition('=')
                        p.set(k, v)
                    self.dirs[t].params = p
                self.state = 'custom'
                self.note(f"set: a2b {self.dirs['a2b'].params}; b2a {self.dirs['b2a'].params}")
            else:
                return {'ok': False, 'error': f'unknown command {cmd}'}
        except ValueError as e:
            return {'ok': False, 'error': str(e)}
        return {'ok': True, 'state': self.state,
                'a2b': self.dirs['a2b'].params.as_dict(), 'b2a': self.dirs['b2a'].params.as_dict()}

    def on_client(self, sock):
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b''
        if not data:
            self.clients.pop(sock, None)
            sock.close()
            return
        buf = self.clients[sock] + data
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            reply = json.dumps(self.command(line.decode(errors='replace'))) + '\n'
            try:
                sock.setblocking(True)
                sock.settimeout(1.0)
                sock.sendall(reply.encode())
                sock.setblocking(False)
            except OSError:
                self.clients.pop(sock, None)
                sock.close()
                return
        self.clients[sock] = buf

    def on_signals(self):
        while self.pending_signals:
            n = self.pending_signals.pop(0)
            if n == signal.SIGUSR1:
                self.heal()
            elif n == signal.SIGUSR2:
                self.shape()
            else:
                self.stop = True

    # -- the loop

    def read_all(self, fd, direction):
        while True:
            try:
                pkt = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EINTR):
                    return
                raise
            if not pkt:
                return
            direction.enqueue(pkt, time.monotonic())

    def run(self):
        a2b, b2a = self.dirs['a2b'], self.dirs['b2a']
        while not self.stop:
            now = time.monotonic()
            a2b.deliver(self.fd_b, now)
            b2a.deliver(self.fd_a, now)
            dues = [t for t in (a2b.next_due(), b2a.next_due()) if t is not None]
            timeout = max(0.0, min(dues) - now) if dues else 1.0
            rlist = [self.fd_a, self.fd_b, self.wake_r] + ([self.ctl] if self.ctl else []) + list(self.clients)
            try:
                ready, _, _ = select.select(rlist, [], [], min(timeout, 1.0))
            except InterruptedError:
                ready = []
            for r in ready:
                if r == self.fd_a:
                    self.read_all(self.fd_a, a2b)
                elif r == self.fd_b:
                    self.read_all(self.fd_b, b2a)
                elif r == self.wake_r:
                    try:
                        os.read(self.wake_r, 512)
                    except BlockingIOError:
                        pass
                elif r is self.ctl:
                    try:
                        c, _ = self.ctl.accept()
                        c.setblocking(False)
                        self.clients[c] = b''
                    except BlockingIOError:
                        pass
                else:
                    self.on_client(r)
            self.on_signals()
        self.finish()

    def finish(self):
        s = self.stats()
        for name in ('a2b', 'b2a'):
            c = s[name]
            log(f"{name}: forwarded {c['forwarded_pkts']} pkts / {c['forwarded_bytes']} B, "
                f"dropped by loss {c['dropped_loss_pkts']}, dropped by queue {c['dropped_queue_pkts']}, "
                f"received {c['received_pkts']}, max backlog {c['max_backlog_pkts']} pkts, "
                f"max sojourn {c['max_sojourn_ms']:.0f} ms, write errors {c['write_errors']}")
        if self.stats_file:
            with open(self.stats_file, 'w') as f:
                json.dump(s, f, indent=1)
        if self.ctl_path:
            try:
                os.unlink(self.ctl_path)
            except OSError:
                pass


def send(path, command):
    """Client side: sends one command to a running linkem, prints the reply."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(command.encode() + b'\n')
    buf = b''
    while not buf.endswith(b'\n'):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    print(buf.decode().strip())
    return 0 if json.loads(buf).get('ok') else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument('--send', nargs=2, metavar=('CONTROL', 'COMMAND'),
                    help='send COMMAND to the linkem listening on CONTROL and exit')
    ap.add_argument('--a-netns', help='namespace of side a (a name in /run/netns or a path)')
    ap.add_argument('--b-netns', help='namespace of side b')
    ap.add_argument('--a-dev', default='em-a', help='TUN device name on side a')
    ap.add_argument('--b-dev', default='em-b', help='TUN device name on side b')
    ap.add_argument('--a-fd', type=int, help='an open TUN fd for side a (instead of --a-dev)')
    ap.add_argument('--b-fd', type=int, help='an open TUN fd for side b')
    ap.add_argument('--rate', default='0', help='both directions: bits/s, e.g. 300k (0: unlimited)')
    ap.add_argument('--loss', default='0', help='both directions: loss at enqueue, e.g. 0.05 or 5%%')
    ap.add_argument('--delay', default='0', help='both directions: one-way delay, e.g. 40ms')
    ap.add_argument('--limit', default='0', help='both directions: queue limit in packets (0: none)')
    for d in ('a2b', 'b2a'):
        for key in ('rate', 'loss', 'delay', 'limit'):
            ap.add_argument(f'--{d}-{key}', help=f'{key} for {d} only')
    ap.add_argument('--overhead', type=int, default=0,
                    help='bytes added to each packet when serialising (link framing), default 0')
    ap.add_argument('--start-healed', action='store_true',
                    help='start unlimited (the shaped parameters apply after SIGUSR2 / "shape")')
    ap.add_argument('--control', help='UNIX socket path for run-time commands')
    ap.add_argument('--stats-file', help='write the counters as JSON here on exit')
    ap.add_argument('--seed', type=int, help='random seed for the loss (default: random)')
    args = ap.parse_args()
    if args.send:
        return send(*args.send)
    Emulator(args).run()
    return 0


if __name__ == '__main__':
    sys.exit(main())
