#!/usr/bin/env python3
"""Traffic for the relay takeover test (Tests/KernelTests/TakeoverTests.swift).

echo PORT READY [PEERS]: TCP and UDP echo on PORT (IPv4), for at most 60 s; touches READY when
bound; with PEERS, appends each new UDP peer address ("IP:PORT", one line) to that file.
load HOST TCPPORT UDPPORT STARTED [UDPSOURCE]: for 3 s, a new TCP connection every 5 ms (each
echoes a few bytes), one 8 MiB transfer sent slowly over 3 s (echoed back and compared), and a
UDP client on a fixed source port (UDPSOURCE, default one the system picks) sending a request
every 10 ms for 4 s, each waiting up to 1 s for its answer; writes STARTED once traffic flows,
then prints one result line: "conns N errors N exact True|False udp_sent N udp_lost N
udp_lost_last_second N" and the first errors. Only loopback addresses are used.
"""
import os, socket, sys, threading, time


def echo(port, ready, peers=None):
    end = time.monotonic() + 60
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("0.0.0.0", int(port))); t.listen(512); t.settimeout(1)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", int(port))); u.settimeout(1)

    def udp():
        seen = set()
        while time.monotonic() < end:
            try:
                d, a = u.recvfrom(2048); u.sendto(d, a)
            except socket.timeout:
                continue
            if peers and a not in seen:
                seen.add(a)
                with open(peers, "a") as f:
                    f.write("%s:%d\n" % a)

    def handle(c):
        c.settimeout(10)
        try:
            while (d := c.recv(65536)):
                c.sendall(d)
        except OSError:
            pass
        c.close()

    threading.Thread(target=udp, daemon=True).start()
    open(ready, "w").close()
    while time.monotonic() < end:
        try:
            c, _ = t.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def load(host, tcpport, udpport, started, udpsource="0"):
    errors, conns = [], [0]
    data = os.urandom(8 << 20)
    got = bytearray()
    udp = {"sent": 0, "lost": 0, "lost_last": 0}

    def connections():
        end = time.monotonic() + 3
        while time.monotonic() < end:
            try:
                c = socket.create_connection((host, int(tcpport)), timeout=3)
                c.sendall(b"ping"); d = c.recv(16); c.close()
                if d != b"ping":
                    errors.append(f"bad echo {d!r}")
                else:
                    conns[0] += 1
            except OSError as e:
                errors.append(repr(e))
            time.sleep(0.005)

    def transfer():
        try:
            c = socket.create_connection((host, int(tcpport)), timeout=10)

            def reader():
                while len(got) < len(data):
                    d = c.recv(65536)
                    if not d:
                        break
                    got.extend(d)
            r = threading.Thread(target=reader); r.start()
            step = len(data) // 60
            for i in range(0, len(data), step):
                c.sendall(data[i:i + step]); time.sleep(0.05)
            r.join(15); c.close()
        except OSError as e:
            errors.append("transfer " + repr(e))

    def datagrams():
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", int(udpsource))); u.settimeout(1)
        end = time.monotonic() + 4
        n = 0
        while (left := end - time.monotonic()) > 0:
            msg = b"seq %d" % n; n += 1
            u.sendto(msg, (host, int(udpport))); udp["sent"] += 1
            try:
                while (d := u.recv(2048)) != msg:
                    pass
            except socket.timeout:
                udp["lost"] += 1
                if left < 1:
                    udp["lost_last"] += 1
            time.sleep(0.01)

    threads = [threading.Thread(target=f) for f in (connections, transfer, datagrams)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    open(started, "w").close()
    for t in threads:
        t.join()
    print(f"conns {conns[0]} errors {len(errors)} exact {bytes(got) == data} udp_sent {udp['sent']} "
          f"udp_lost {udp['lost']} udp_lost_last_second {udp['lost_last']}", flush=True)
    for e in errors[:5]:
        print("error", e, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "echo":
        echo(*sys.argv[2:5])
    elif sys.argv[1] == "load":
        load(*sys.argv[2:7])
