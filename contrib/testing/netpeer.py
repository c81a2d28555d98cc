#!/usr/bin/env python3
"""Tiny test peers for nftfwd's kernel tests and demo (standard library only).

  netpeer.py serve PORTS [READY_FILE]   TCP and UDP on [::] (dual stack) for each port in
                                        PORTS ("80", "80,81", "9000-9003"); answers each TCP
                                        connection and UDP datagram with
                                        "<proto> <port> from <client address>", then exits
                                        after 120 s at most. Writes READY_FILE once listening.
  netpeer.py ask tcp|udp HOST PORT       connects (or sends one datagram), prints the answer;
                                        exit 1 with "ERROR <reason>" after 3 s without one.
"""
import os, selectors, socket, sys, time


def ports_of(text):
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def plain(addr):
    return addr[7:] if addr.startswith("::ffff:") else addr


def serve(spec, ready=None):
    sel = selectors.DefaultSelector()
    for port in ports_of(spec):
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET6, kind)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", port))
            if kind == socket.SOCK_STREAM:
                s.listen(128)
            sel.register(s, selectors.EVENT_READ, ("tcp" if kind == socket.SOCK_STREAM else "udp", port))
    if ready:
        with open(ready + ".tmp", "w") as f:
            f.write("ready\n")
        os.rename(ready + ".tmp", ready)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            proto, port = key.data
            if proto == "tcp":
                conn, peer = key.fileobj.accept()
                try:
                    conn.sendall(f"tcp {port} from {plain(peer[0])}\n".encode())
                finally:
                    conn.close()
            else:
                data, peer = key.fileobj.recvfrom(2048)
                key.fileobj.sendto(f"udp {port} from {plain(peer[0])}\n".encode(), peer)


def ask(proto, host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(3)
    try:
        if proto == "tcp":
            s.connect((host, int(port)))
        else:
            s.sendto(b"ping", (host, int(port)))
        print(s.recv(512).decode().strip())
    except OSError as e:
        print("ERROR", type(e).__name__)
        sys.exit(1)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif sys.argv[1] == "ask":
        ask(*sys.argv[2:5])
    else:
        sys.exit(__doc__)
