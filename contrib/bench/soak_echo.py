#!/usr/bin/env python3
"""The soak's target: TCP and UDP echo servers that say which port answered (stdlib only).

  soak_echo.py ADDRESS PORTS READY_FILE SECONDS

For each port in PORTS ("30001-30004"), on ADDRESS:
  TCP  sends "T<port>\n", then echoes every byte back; at the client's EOF (its half-close)
       it finishes echoing, shuts its own write side and closes. A reset from the client just
       ends the connection.
  UDP  answers each datagram with "U<port> " + the datagram.
The port in each answer lets the soak catch a connection relayed to the wrong target (a stale
mapping after a churn). Writes READY_FILE once listening; exits after SECONDS (bounded).
"""
import os, selectors, socket, sys, threading, time


def ports_of(text):
    lo, _, hi = text.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def echo(conn, port):
    try:
        conn.settimeout(120)   # a client that vanished without a FIN or RST cannot pin a thread
        conn.sendall(b"T%d\n" % port)
        while True:
            data = conn.recv(65536)
            if not data:
                conn.shutdown(socket.SHUT_WR)
                # Wait for the relay to close (bounded by the timeout), so the close below
                # never turns into a reset of bytes still in flight towards the client.
                while conn.recv(65536):
                    pass
                break
            conn.sendall(data)
    except OSError:
        pass   # a client reset (SO_LINGER 0) reaches us as ECONNRESET or EPIPE: expected
    finally:
        conn.close()


def main():
    address, spec, ready, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    sel = selectors.DefaultSelector()
    for port in ports_of(spec):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((address, port))
        t.listen(512)
        sel.register(t, selectors.EVENT_READ, ("tcp", port))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        u.bind((address, port))
        sel.register(u, selectors.EVENT_READ, ("udp", port))
    with open(ready + ".tmp", "w") as f:
        f.write("ready\n")
    os.rename(ready + ".tmp", ready)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            proto, port = key.data
            if proto == "tcp":
                try:
                    conn, _ = key.fileobj.accept()
                except OSError:
                    continue
                threading.Thread(target=echo, args=(conn, port), daemon=True).start()
            else:
                try:
                    data, peer = key.fileobj.recvfrom(65536)
                    key.fileobj.sendto(b"U%d " % port + data, peer)
                except OSError:
                    pass


if __name__ == "__main__":
    main()
