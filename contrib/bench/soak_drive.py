#!/usr/bin/env python3
"""The soak's driver (contrib/bench/soak.sh runs it inside the relay's namespace; stdlib only).

  soak_drive.py setup --nftfwd BIN --target ADDR
      publishes the mappings that stay for the whole soak (with --save, to NFTFWD_SAVE).
  soak_drive.py run --nftfwd BIN --file FILE --relay-pid PID --relay-log LOG --target ADDR
                    --seconds N --clients N --seed N
      drives the relay: client threads run short TCP connections, long transfers ended by a
      half-close, resets and UDP flows against the published loopback ports, checking every
      byte; a control thread adds and removes mappings (nftfwd add/rm --save) and deletes the
      table or flushes the ruleset (nft), waiting each time until the relay has caught up;
      a monitor samples the relay's RSS. Prints the report; exit 1 on anything unexpected.

What counts as expected: a connection or datagram that fails before any answer came back
(refused, reset while still in the listener's backlog, a UDP datagram refused or unanswered)
while its mapping was being added or removed. The control thread opens that window before it
runs the change and closes it only once the relay is seen serving the port (or refusing it)
as the change says, so a window never hides a failure on a port that was served. A flush opens
no window: the relay puts the table back before it follows it, and keeps its listeners while a
--save change holds FILE's lock, so no port may stop. Everything else is unexpected: wrong or
missing bytes, an answer from the wrong target, a reset of a connection the relay had
accepted, a stall, a port not served (or still served) 10 s after the change, a table not
restored or not equal to FILE, sockets left open at the end, errors in the relay's log, the
relay gone.
"""
import argparse, os, random, socket, struct, subprocess, sys, threading, time

# (host, target port(s), proto) that stay published; ADDR of the target is given.
STABLE = [("127.0.0.1:20001", "30001", "tcp"), ("20002", "30002", "tcp"),
          ("[::1]:20003", "30003", "tcp"), ("127.0.0.1:20100-20103", "30001-30004", "tcp"),
          ("127.0.0.1:20001", "30001", "udp"), ("20002", "30002", "udp"),
          ("[::1]:20003", "30004", "udp")]
# Added and removed during the soak, each time towards a target port drawn from TARGETS.
CHURN = [("127.0.0.1:20010", "tcp"), ("20011", "tcp"), ("[::1]:20012", "tcp"),
         ("127.0.0.1:20010", "udp"), ("20011", "udp")]
TARGETS = [30001, 30002, 30003, 30004]

# A recv that waits this long means a stall: the relay answers on loopback in milliseconds,
# and even a machine busy compiling on every core leaves a few milliseconds a second to it.
IO_TIMEOUT = 20.0
UDP_TIMEOUT = 5.0      # the same for one datagram's answer
OP_LIMIT = 180.0       # one transfer, whatever its size (8 MiB at a few MB/s at worst)
SETTLE = 10.0          # a change must be visible in the relay this soon (it polls every 200 ms)
BLOCK = 1 << 20
CHUNK = 65536


def now():
    return time.monotonic()


def parse_host(host):
    """(family, address a client connects to, first port, last port) for a mapping's HOST."""
    if host.startswith("["):
        addr, _, ports = host[1:].partition("]:")
        family, addr = socket.AF_INET6, "::1"
    elif ":" in host:
        addr, _, ports = host.partition(":")
        family = socket.AF_INET
    else:
        family, addr, ports = socket.AF_INET, "127.0.0.1", host
    lo, _, hi = ports.partition("-")
    return family, addr, int(lo), int(hi or lo)


class Entry:
    """One published port as the driver knows it: which target it had when, and the windows
    in which a change made its failures expected."""

    def __init__(self, host, proto, family, addr, port, churn):
        self.host, self.proto, self.family, self.addr, self.port = host, proto, family, addr, port
        self.churn = churn
        self.published = False
        self.target = None
        self.history = []   # [start, end or None, target port]
        self.windows = []   # [start, end or None, why]
        self.label = f"{host if churn or '-' not in host else addr + ':' + str(port)}/{proto}"

    def open_window(self, why):
        self.windows.append([now(), None, why])

    def close_windows(self):
        t = now()
        for w in self.windows:
            if w[1] is None:
                w[1] = t

    def window_during(self, t0, t1):
        for start, end, why in self.windows:
            if start <= t1 and (end is None or end >= t0):
                return why
        return None

    def targets_during(self, t0, t1):
        return {tp for start, end, tp in self.history if start <= t1 and (end is None or end >= t0)}


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.done = {"short": 0, "long": 0, "reset": 0, "udp": 0}
        self.datagrams = 0
        self.bytes = {"short": 0, "long": 0, "reset": 0, "udp": 0}
        self.expected = {}       # (window, kind) -> count
        self.unexpected = []
        self.last_look = 0.0
        self.adds = self.rms = 0
        self.flushes = {"delete table": 0, "flush ruleset": 0}
        self.flush_then_change = 0
        self.restore_times = []
        self.rss_max = 0

    def error(self, text):
        with self.lock:
            self.unexpected.append(f"[{time.strftime('%H:%M:%S')}] {text}")


class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.block2 = random.Random(args.seed ^ 0x5EED).randbytes(BLOCK) * 2
        self.stats = Stats()
        self.lock = threading.Lock()   # guards the entries' fields
        self.stop = threading.Event()
        self.entries = []
        for host, targets, proto in STABLE:
            family, addr, lo, hi = parse_host(host)
            tlo = int(targets.partition("-")[0])
            for i, port in enumerate(range(lo, hi + 1)):
                e = Entry(host, proto, family, addr, port, churn=False)
                e.published, e.target = True, tlo + i
                e.history.append([0.0, None, tlo + i])
                self.entries.append(e)
        for host, proto in CHURN:
            family, addr, lo, _ = parse_host(host)
            self.entries.append(Entry(host, proto, family, addr, lo, churn=True))

    # ------------------------------------------------------------------ verdicts
    def failed(self, entry, t0, kind, detail, before_answer=True):
        """A failed transfer: expected inside a change's window (before any answer), else an error."""
        why = None
        if before_answer:
            with self.lock:
                why = entry.window_during(t0 - 0.05, now())
        if why:
            with self.stats.lock:
                key = (why, kind)
                self.stats.expected[key] = self.stats.expected.get(key, 0) + 1
        else:
            self.stats.error(f"{entry.label}: {kind}: {detail} ({now() - t0:.1f} s into it)" + self.listeners_seen(entry))

    def listeners_seen(self, entry):
        """For an unexpected refusal: whether anything listens on the port now, and the relay's
        fds (at most once a second, so an outage does not turn into a storm of ss runs)."""
        with self.stats.lock:
            if now() - self.stats.last_look < 1:
                return ""
            self.stats.last_look = now()
        out = subprocess.run(["ss", "-Hltun", f"sport = :{entry.port}"], capture_output=True, text=True, timeout=60).stdout
        try:
            fds = self.fds()
        except OSError:
            fds = "gone"
        return f"; bound on the port now: {len(out.splitlines())}; relay fds (sockets, pipes, other): {fds}"

    def check_target(self, entry, t0, answered):
        with self.lock:
            valid = entry.targets_during(t0 - 0.5, now())
        if answered not in valid:
            self.stats.error(f"{entry.label}: answered by target port {answered}, published to {sorted(valid)}")
            return False
        return True

    # ------------------------------------------------------------------ TCP
    def expect(self, off, pos, data):
        start = (off + pos) % BLOCK
        return data == self.block2[start:start + len(data)]

    def read_header(self, s):
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(64)
            if not chunk:
                raise EOFError("closed before the target's greeting")
            buf += chunk
            if len(buf) > 32:
                raise ValueError(f"bad greeting {buf[:32]!r}")
        line, _, rest = buf.partition(b"\n")
        if not line.startswith(b"T"):
            raise ValueError(f"bad greeting {line!r}")
        return int(line[1:]), rest

    def tcp(self, entry, kind, rng):
        t0 = now()
        size = {"short": rng.randint(1, 4096), "long": rng.randint(1 << 20, 8 << 20),
                "reset": rng.randint(64 << 10, 1 << 20)}[kind]
        off = rng.randrange(BLOCK)
        s = socket.socket(entry.family, socket.SOCK_STREAM)
        s.settimeout(IO_TIMEOUT)
        writer = None
        try:
            try:
                s.connect((entry.addr, entry.port))
                answered, rest = self.read_header(s)
            except ConnectionRefusedError as e:
                return self.failed(entry, t0, "refused", e)
            except (ConnectionResetError, EOFError) as e:
                return self.failed(entry, t0, "reset before the greeting", e)
            except (OSError, ValueError) as e:
                return self.failed(entry, t0, "no greeting", e, before_answer=False)
            if not self.check_target(entry, t0, answered):
                return
            if kind == "reset":
                return self.tcp_reset(entry, s, size, off, rest, t0)
            errors = []

            def send():
                try:
                    pos = 0
                    while pos < size:
                        n = min(CHUNK, size - pos)
                        start = (off + pos) % BLOCK
                        s.sendall(self.block2[start:start + n])
                        pos += n
                    s.shutdown(socket.SHUT_WR)   # the half-close: the echo still comes back
                except OSError as e:
                    errors.append(f"sending: {e}")

            writer = threading.Thread(target=send, daemon=True)
            writer.start()
            got = 0
            if rest:
                if not self.expect(off, 0, rest):
                    return self.stats.error(f"{entry.label}: {kind}: the first bytes differ")
                got = len(rest)
            while True:
                if now() - t0 > OP_LIMIT:
                    return self.stats.error(f"{entry.label}: {kind}: {got} of {size} bytes after {OP_LIMIT:.0f} s")
                try:
                    data = s.recv(CHUNK)
                except OSError as e:
                    return self.stats.error(f"{entry.label}: {kind}: {e} after {got} of {size} bytes")
                if not data:
                    break
                if got + len(data) > size or not self.expect(off, got, data):
                    return self.stats.error(f"{entry.label}: {kind}: bytes {got}..{got + len(data)} of {size} differ from what was sent")
                got += len(data)
            writer.join(IO_TIMEOUT)
            if errors:
                return self.stats.error(f"{entry.label}: {kind}: {errors[0]}")
            if got != size:
                return self.stats.error(f"{entry.label}: {kind}: EOF after {got} of {size} bytes")
            with self.stats.lock:
                self.stats.done[kind] += 1
                self.stats.bytes[kind] += size
        finally:
            if writer and writer.is_alive():
                try:
                    s.shutdown(socket.SHUT_RDWR)   # unblocks the writer
                except OSError:
                    pass
                writer.join(IO_TIMEOUT)
            s.close()

    def tcp_reset(self, entry, s, cut, off, rest, t0):
        """Stop-and-wait chunks, checked, until `cut` bytes came back; then one more chunk is
        sent and, with its echo in flight, the socket is closed with SO_LINGER 0 (an RST)."""
        got = 0
        if rest:
            if not self.expect(off, 0, rest):
                return self.stats.error(f"{entry.label}: reset: the first bytes differ")
            got = len(rest)
        sent = 0
        while got < cut:
            n = min(CHUNK, cut - sent)
            try:
                if n > 0:
                    start = (off + sent) % BLOCK
                    s.sendall(self.block2[start:start + n])
                    sent += n
                while got < sent:
                    data = s.recv(CHUNK)
                    if not data:
                        return self.stats.error(f"{entry.label}: reset: EOF after {got} of {cut} bytes")
                    if not self.expect(off, got, data):
                        return self.stats.error(f"{entry.label}: reset: bytes {got}..{got + len(data)} differ")
                    got += len(data)
            except OSError as e:
                return self.stats.error(f"{entry.label}: reset: {e} after {got} of {cut} bytes")
        start = (off + sent) % BLOCK
        try:
            s.send(self.block2[start:start + CHUNK])
        except OSError as e:
            return self.stats.error(f"{entry.label}: reset: {e} before the reset")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self.stats.lock:
            self.stats.done["reset"] += 1
            self.stats.bytes["reset"] += got

    # ------------------------------------------------------------------ UDP
    def udp(self, entry, rng):
        t0 = now()
        s = socket.socket(entry.family, socket.SOCK_DGRAM)
        s.settimeout(UDP_TIMEOUT)
        count, total = rng.randint(3, 30), 0
        try:
            s.connect((entry.addr, entry.port))
            for seq in range(count):
                size = rng.randint(16, 1400)
                start = rng.randrange(BLOCK)
                payload = b"%d " % seq + self.block2[start:start + size]
                t1 = now()
                try:
                    s.send(payload)
                    answer = s.recv(65536)
                except ConnectionRefusedError as e:
                    return self.failed(entry, t1, "udp refused", e)
                except socket.timeout:
                    return self.failed(entry, t1, "udp unanswered", f"datagram {seq} unanswered for {UDP_TIMEOUT:.0f} s")
                except OSError as e:
                    return self.failed(entry, t1, "udp error", e, before_answer=False)
                head, _, body = answer.partition(b" ")
                if not head.startswith(b"U") or not head[1:].isdigit():
                    return self.stats.error(f"{entry.label}: udp: bad answer {answer[:24]!r}")
                if not self.check_target(entry, t1, int(head[1:])):
                    return
                if body != payload:
                    return self.stats.error(f"{entry.label}: udp: datagram {seq} came back changed ({len(body)} bytes for {len(payload)})")
                total += len(payload)
            with self.stats.lock:
                self.stats.done["udp"] += 1
                self.stats.datagrams += count
                self.stats.bytes["udp"] += total
        finally:
            s.close()

    # ------------------------------------------------------------------ clients
    def client(self, index, deadline):
        rng = random.Random(self.args.seed * 1000 + index)
        while now() < deadline and not self.stop.is_set():
            kind = rng.choices(["short", "long", "reset", "udp"], weights=[50, 8, 17, 25])[0]
            proto = "udp" if kind == "udp" else "tcp"
            with self.lock:
                choices = [e for e in self.entries if e.published and e.proto == proto]
            entry = rng.choice(choices)
            try:
                if kind == "udp":
                    self.udp(entry, rng)
                else:
                    self.tcp(entry, kind, rng)
            except Exception as e:   # a bug of the driver must show, not end the thread quietly
                self.stats.error(f"{entry.label}: {kind}: driver error {e!r}")

    # ------------------------------------------------------------------ control
    def nftfwd(self, *argv):
        env = dict(os.environ, NFTFWD_SAVE=self.args.file)
        p = subprocess.run([self.args.nftfwd, *argv], env=env, capture_output=True, text=True, timeout=60)
        return p.returncode, (p.stderr.strip() or p.stdout.strip()).replace("\n", " | ")

    def probe(self, entry):
        """The target port that answers on entry's port now, or None when refused."""
        if entry.proto == "tcp":
            s = socket.socket(entry.family, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                s.connect((entry.addr, entry.port))
                return self.read_header(s)[0]
            except (OSError, EOFError, ValueError):
                return None
            finally:
                s.close()
        s = socket.socket(entry.family, socket.SOCK_DGRAM)
        s.settimeout(1)
        try:
            s.connect((entry.addr, entry.port))
            s.send(b"probe")
            head = s.recv(64).partition(b" ")[0]
            return int(head[1:]) if head[1:].isdigit() else -1
        except OSError:
            return None
        finally:
            s.close()

    def wait_served(self, entry, target, what):
        limit = now() + SETTLE
        while now() < limit:
            answered = self.probe(entry)
            if answered == target:
                return True
            if answered is not None and answered != target:
                self.stats.error(f"{entry.label}: answered by target port {answered} {what}, published to {target}")
                return False
            time.sleep(0.05)
        self.stats.error(f"{entry.label}: not served {SETTLE:.0f} s {what}")
        return False

    def wait_gone(self, entry):
        limit = now() + SETTLE
        while now() < limit:
            if self.probe(entry) is None:
                return True
            time.sleep(0.05)
        self.stats.error(f"{entry.label}: still served {SETTLE:.0f} s after nftfwd rm")
        return False

    def churn(self, entry):
        host = entry.host
        # Clients keep picking the entry while it is removed and from the start of its add:
        # they race with the change, which is the point; the window makes their refusals expected.
        if entry.published:
            with self.lock:
                entry.open_window("churn")
            rc, out = self.nftfwd("rm", host, "--proto", entry.proto, "--save")
            if rc != 0:
                return self.stats.error(f"nftfwd rm {host} --proto {entry.proto} --save: exit {rc}: {out}")
            self.stats.rms += 1
            self.wait_gone(entry)
            with self.lock:
                entry.published = False
                entry.history[-1][1] = now()
                entry.target = None
            return
        target = self.rng.choice(TARGETS)
        with self.lock:
            entry.open_window("churn")
            entry.history.append([now(), None, target])
            entry.target = target
            entry.published = True
        rc, out = self.nftfwd("add", host, f"{self.args.target}:{target}", "--proto", entry.proto, "--save")
        if rc != 0:
            return self.stats.error(f"nftfwd add {host} {self.args.target}:{target} --proto {entry.proto} --save: exit {rc}: {out}")
        self.stats.adds += 1
        if self.wait_served(entry, target, "after nftfwd add"):
            with self.lock:
                entry.close_windows()

    def flush(self, how, then_change):
        """Deletes the table or flushes the ruleset, and waits for the relay to put FILE back.
        With `then_change`, an add or rm --save follows at once, before the relay's next poll
        (an operator's change right after a firewall reload): it must keep FILE's other
        mappings (it puts FILE back first) rather than save its own result as the whole state."""
        # No window: the relay repairs the table before it looks at it again, and keeps its
        # listeners while a --save change holds FILE's lock, so a flush must stop no port.
        argv = ["nft", "delete", "table", "inet", "nftfwd"] if how == "delete table" else ["nft", "flush", "ruleset"]
        t0 = now()
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            return self.stats.error(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
        self.stats.flushes[how] += 1
        if then_change:
            self.stats.flush_then_change += 1
            self.churn(self.rng.choice([e for e in self.entries if e.churn]))
        back = None
        while now() - t0 < 15:
            if subprocess.run(["nft", "list", "table", "inet", "nftfwd"], capture_output=True, timeout=60).returncode == 0:
                back = now() - t0
                break
            time.sleep(0.02)
        if back is None:
            return self.stats.error(f"table inet nftfwd not restored 15 s after '{' '.join(argv)}'")
        if not then_change:
            self.stats.restore_times.append(back)
        rc, out = self.nftfwd("check", self.args.file)
        if rc != 0:
            self.stats.error(f"after the restore, nftfwd check {self.args.file}: exit {rc}: {out}")
        with self.lock:
            served = [e for e in self.entries if e.published]
        for e in served:
            self.wait_served(e, e.target, "after the restore")

    def control(self, deadline):
        flush_kinds = ["delete table", "flush ruleset"]
        while now() < deadline and not self.stop.is_set():
            try:
                if self.rng.random() < 0.25:
                    n = self.stats.flushes["delete table"] + self.stats.flushes["flush ruleset"]
                    self.flush(flush_kinds[n % 2], then_change=(n // 2) % 2 == 1)
                else:
                    self.churn(self.rng.choice([e for e in self.entries if e.churn]))
            except Exception as e:   # as for the clients: shown, not a quietly dead thread
                self.stats.error(f"control: driver error {e!r}")
            time.sleep(self.rng.uniform(0.2, 1.0))

    # ------------------------------------------------------------------ the relay process
    def fds(self):
        """(sockets, pipes, others) the relay holds now."""
        sockets = pipes = others = 0
        base = f"/proc/{self.args.relay_pid}/fd"
        for name in os.listdir(base):
            try:
                link = os.readlink(f"{base}/{name}")
            except OSError:
                continue
            if link.startswith("socket:"):
                sockets += 1
            elif link.startswith("pipe:"):
                pipes += 1
            else:
                others += 1
        return sockets, pipes, others

    def rss_kb(self):
        with open(f"/proc/{self.args.relay_pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def alive(self):
        try:
            with open(f"/proc/{self.args.relay_pid}/stat") as f:
                return f.read().split(") ")[1][0] != "Z"
        except OSError:
            return False

    def monitor(self):
        while not self.stop.wait(0.5):
            if not self.alive():
                self.stats.error("the relay exited")
                self.stop.set()
                return
            try:
                self.stats.rss_max = max(self.stats.rss_max, self.rss_kb())
            except OSError:
                pass

    def listening(self):
        """True once every stable port is served: bound by the relay (ss, in this namespace),
        or for TCP answering (with --loopback-redirect loopback TCP clients reach the relay
        through the kernel's redirect, with no socket bound per port)."""
        out = subprocess.run(["ss", "-Hltun"], capture_output=True, text=True, timeout=60).stdout
        bound = set()
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 5:
                bound.add((fields[0], fields[4].rpartition(":")[2]))
        stable = [e for e in self.entries if not e.churn]
        # A probe only where nothing is bound, so the baseline below holds no probe's sockets.
        self.not_ready = [e.label for e in stable if (e.proto, str(e.port)) not in bound
                          and (e.proto == "udp" or self.probe(e) is None)]
        return not self.not_ready

    # ------------------------------------------------------------------ the run
    def run(self):
        limit = now() + 30
        while not self.listening():
            if now() > limit or not self.alive():
                log = open(self.args.relay_log).read().strip().splitlines()[-5:]
                print("soak: the relay did not come up within 30 s (not served: " + ", ".join(getattr(self, "not_ready", []))
                      + "): " + " | ".join(log), file=sys.stderr)
                return 2
            time.sleep(0.1)
        # Baseline before any client: listeners, status and netlink sockets, the pipe pools'
        # first pipes. At the end, once every connection and UDP flow is gone, it must be back.
        start_fds, start_rss = self.fds(), self.rss_kb()
        self.stats.rss_max = start_rss
        for e in self.entries:
            if not e.churn:
                self.wait_served(e, e.target, "at the start")
        t_start = now()
        deadline = t_start + self.args.seconds
        threads = [threading.Thread(target=self.client, args=(i, deadline), daemon=True) for i in range(self.args.clients)]
        threads.append(threading.Thread(target=self.control, args=(deadline,), daemon=True))
        mon = threading.Thread(target=self.monitor, daemon=True)
        mon.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1.0, deadline - now()) + OP_LIMIT + 30)
            if t.is_alive():
                self.stats.error("a client or the control thread still runs long after the end: a hang")
        elapsed = now() - t_start
        # Back to the mappings of the start, then wait for the relay to let go of everything.
        for e in self.entries:
            if e.churn and e.published and self.alive():
                self.churn(e)
        settled, end_fds = False, self.fds() if self.alive() else (0, 0, 0)
        limit = now() + 60   # UDP flows expire after --udp-timeout 5 s; TCP closes are immediate
        while self.alive() and now() < limit:
            end_fds = self.fds()
            if end_fds[0] == start_fds[0]:
                settled = True
                break
            time.sleep(0.5)
        self.stop.set()
        mon.join(5)
        if self.alive() and not settled:
            ss = subprocess.run(["ss", "-Htunap"], capture_output=True, text=True, timeout=60).stdout
            mine = [l for l in ss.splitlines() if f"pid={self.args.relay_pid}," in l and "LISTEN" not in l and "UNCONN" not in l]
            self.stats.error(f"the relay holds {end_fds[0]} sockets 60 s after the last client, {start_fds[0]} at the start: "
                             + " | ".join(" ".join(l.split()[:6]) for l in mine[:5]))
        end_rss = self.rss_kb() if self.alive() else 0
        max_pipes = 2 * 64 * 2 + 2   # two loops' pools of at most 64 idle pipes, two fds each
        if end_fds[1] > max_pipes:
            self.stats.error(f"the relay holds {end_fds[1]} pipe fds, more than its pools keep ({max_pipes})")
        if self.alive():
            rc, out = self.nftfwd("check", self.args.file)
            if rc != 0:
                self.stats.error(f"at the end, nftfwd check: exit {rc}: {out}")
        return self.report(elapsed, start_fds, end_fds, start_rss, end_rss)

    def report(self, elapsed, start_fds, end_fds, start_rss, end_rss):
        st = self.stats
        log = open(self.args.relay_log, errors="replace").read().splitlines()
        restores = sum("restored table" in l for l in log)
        warnings = [l for l in log if ": warning: " in l]
        errors = [l for l in log if ": error: " in l]
        for l in errors[:5]:
            st.error(f"relay log: {l}")
        mb = lambda b: f"{b / 1e6:.1f} MB"
        rt = sorted(st.restore_times)
        print(f"soak: {elapsed:.0f} s; transfers checked byte for byte: short {st.done['short']} ({mb(st.bytes['short'])}), "
              f"long with half-close {st.done['long']} ({mb(st.bytes['long'])}), resets {st.done['reset']} ({mb(st.bytes['reset'])}), "
              f"udp flows {st.done['udp']} ({st.datagrams} datagrams, {mb(st.bytes['udp'])})")
        print(f"soak: changes: {st.adds} add, {st.rms} rm --save; flushes: {st.flushes['delete table']} 'nft delete table', "
              f"{st.flushes['flush ruleset']} 'nft flush ruleset', {st.flush_then_change} of them followed at once by an add/rm --save; "
              f"restores logged by the relay: {restores}"
              + (f"; table back after {rt[0]:.2f}/{rt[len(rt) // 2]:.2f}/{rt[-1]:.2f} s (min/median/max)" if rt else ""))
        exp = ", ".join(f"{n} {kind}" for (why, kind), n in sorted(st.expected.items())) or "none"
        print(f"soak: expected failures (before any answer, while their mapping was being added or removed): {exp}")
        print(f"soak: relay fds {sum(start_fds)} -> {sum(end_fds)} (sockets {start_fds[0]} -> {end_fds[0]}, "
              f"pipes {start_fds[1]} -> {end_fds[1]}, other {start_fds[2]} -> {end_fds[2]}); "
              f"VmRSS {start_rss / 1024:.1f} -> {end_rss / 1024:.1f} MB (max {st.rss_max / 1024:.1f}); "
              f"log: {len(warnings)} warning(s), {len(errors)} error(s)")
        for l in warnings[:3]:
            print(f"soak: relay warning: {l}")
        if st.unexpected:
            print(f"soak: FAILED: {len(st.unexpected)} unexpected error(s), from {st.unexpected[0][1:9]} to {st.unexpected[-1][1:9]}:")
            for l in st.unexpected[:6] + (["..."] + st.unexpected[-4:] if len(st.unexpected) > 10 else st.unexpected[6:10]):
                print(f"soak:   {l}")
            return 1
        print("soak: OK: no unexpected error")
        return 0


def setup(args):
    env = dict(os.environ)
    for host, target, proto in STABLE:
        argv = [args.nftfwd, "add", host, f"{args.target}:{target}", "--proto", proto, "--save"]
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            print(f"soak: {' '.join(argv[1:])}: exit {p.returncode}: {p.stderr.strip()}", file=sys.stderr)
            return 2
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["setup", "run"])
    ap.add_argument("--nftfwd", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--file")
    ap.add_argument("--relay-pid", type=int)
    ap.add_argument("--relay-log")
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.mode == "setup":
        return setup(args)
    return Soak(args).run()


if __name__ == "__main__":
    sys.exit(main())
