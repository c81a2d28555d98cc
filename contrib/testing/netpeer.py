#!/usr/bin/env python3
"""Tiny test peers for nftfwd's kernel tests and demo (standard library only).

  netpeer.py serve PORTS [READY_FILE [NAME]]
                                        TCP and UDP on [::] (dual stack) for each port in
                                        PORTS ("80", "80,81", "9000-9003"); answers each TCP
                                        connection and UDP datagram with
                                        "<proto> <port> from <client address>[ at NAME]", then
                                        exits after 120 s at most. Writes READY_FILE once listening.
  netpeer.py ask tcp|udp HOST PORT [SRC] connects (or sends one datagram), prints the answer;
                                        exit 1 with "ERROR <reason>" after 3 s without one.
  netpeer.py syn IFACE DST_MAC SRC_IP DST_IP PORT
                                        sends one hand-made TCP SYN (IPv4) in an Ethernet frame
                                        to DST_MAC, whatever the routing table says, and prints
                                        "answer SYNACK", "answer RST" or "no answer" (1 s).
  netpeer.py stream HOST PORT SRCPORT COUNT [INTERVAL_MS]
                                        a UDP stream from the fixed source port SRCPORT:
                                        sends "seq N" for N = 0..COUNT-1, one every
                                        INTERVAL_MS (100), prints "sent N" after sending each,
                                        "N <answer>" for each answer from HOST:PORT as it
                                        comes ("stray ADDR PORT <text>" for datagrams from
                                        anyone else), then "done".
  netpeer.py proxyserve PORT READY_FILE a PROXY protocol consumer on [::]:PORT (dual stack, TCP):
                                        reads a v1 or v2 header (HAProxy's specification),
                                        then the client's bytes to EOF, and answers
                                        "v1|v2 FAMILY SRC SPORT DST DPORT LEN SHA256-PREFIX"
                                        ("bad header" for anything else); exits after 120 s.
  netpeer.py proxysend HOST PORT BYTES  sends BYTES deterministic bytes, half-closes, prints
                                        "LOCAL_ADDR LOCAL_PORT LEN SHA256-PREFIX" of what it
                                        sent, then the answer line.
"""
import hashlib, os, random, selectors, socket, struct, sys, time


def ports_of(text):
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def plain(addr):
    return addr[7:] if addr.startswith("::ffff:") else addr


def serve(spec, ready=None, name=None):
    suffix = f" at {name}" if name else ""
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
                    conn.sendall(f"tcp {port} from {plain(peer[0])}{suffix}\n".encode())
                finally:
                    conn.close()
            else:
                data, peer = key.fileobj.recvfrom(2048)
                text = f"udp {port} from {plain(peer[0])}{suffix}"
                if data.startswith(b"seq "):  # a stream: echo the number, so answers can be matched
                    text += " " + data.decode(errors="replace").strip()
                try:
                    key.fileobj.sendto((text + "\n").encode(), peer)
                except OSError:
                    pass  # no route back to the client (an unmasqueraded container): the answer is lost, as on a real network


def ask(proto, host, port, source=None):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(3)
    try:
        if source:
            s.bind((source, 0))  # one of several client addresses on the link
        if proto == "tcp":
            s.connect((host, int(port)))
        else:
            s.sendto(b"ping", (host, int(port)))
        print(s.recv(512).decode().strip())
    except OSError as e:
        print("ERROR", type(e).__name__)
        sys.exit(1)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn(iface, dst_mac, src_ip, dst_ip, port):
    """A SYN a neighbour could send: the CVE-2020-8558 probe when DST_IP is 127.0.0.1."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind((iface, 0))
    src_mac = s.getsockname()[4]
    sport = random.randint(20000, 60000)
    src, dst = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)
    tcp = struct.pack("!HHIIBBHHH", sport, int(port), random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    s.send(bytes.fromhex(dst_mac.replace(":", "")) + src_mac + b"\x08\x00" + ip + tcp)
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            frame = s.recv(2048)
        except socket.timeout:
            break
        packet = frame[14:]
        if len(packet) < 40 or packet[9] != 6:
            continue
        ihl = (packet[0] & 0x0F) * 4
        got_sport, got_dport = struct.unpack("!HH", packet[ihl:ihl + 4])
        flags = packet[ihl + 13]
        if got_sport == int(port) and got_dport == sport:
            print("answer SYNACK" if flags & 0x12 == 0x12 else "answer RST" if flags & 0x04 else f"answer flags {flags:#x}")
            return
    print("no answer")


def stream(host, port, srcport, count, interval_ms="100"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Unconnected, as many UDP clients are: the ICMP errors of a black-holed datagram are not
    # reported, the stream just goes unanswered.
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", int(srcport)))
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    server, count, interval = (host, int(port)), int(count), int(interval_ms) / 1000
    start = time.monotonic()
    for n in range(count + 1):
        if n < count:
            s.sendto(f"seq {n}".encode(), server)
            print("sent", n, flush=True)
        # After the last datagram, half a second more for its answer.
        deadline = start + (n + 1) * interval + (0.5 if n == count else 0)
        while (left := deadline - time.monotonic()) > 0 and sel.select(timeout=left):
            data, peer = s.recvfrom(2048)
            text = data.decode(errors="replace").strip()
            answer, _, seq = text.rpartition(" seq ")
            if (plain(peer[0]), peer[1]) == server and answer:
                print(seq, answer, flush=True)
            else:
                print("stray", plain(peer[0]), peer[1], text, flush=True)
    print("done", flush=True)


V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        part = conn.recv(n - len(data))
        if not part:
            raise EOFError
        data += part
    return data


def proxy_header(conn):
    """The header's fields, reading exactly its bytes (v1 byte by byte, up to its CRLF)."""
    first = read_exact(conn, 1)
    if first == b"P":
        line = first
        while not line.endswith(b"\r\n") and len(line) < 107:
            line += read_exact(conn, 1)
        parts = line[:-2].decode("ascii").split(" ")
        if len(parts) != 6 or parts[0] != "PROXY" or parts[1] not in ("TCP4", "TCP6"):
            raise ValueError(line)
        return ["v1", parts[1], parts[2], parts[4], parts[3], parts[5]]
    head = first + read_exact(conn, 15)
    if head[:12] != V2_SIGNATURE or head[12] != 0x21:
        raise ValueError(head)
    body = read_exact(conn, struct.unpack("!H", head[14:16])[0])
    family, size = {0x11: ("AF_INET", 4), 0x21: ("AF_INET6", 16)}[head[13]]
    af = socket.AF_INET if size == 4 else socket.AF_INET6
    src, dst = socket.inet_ntop(af, body[:size]), socket.inet_ntop(af, body[size:2 * size])
    sport, dport = struct.unpack("!HH", body[2 * size:2 * size + 4])
    return ["v2", family, src, str(sport), dst, str(dport)]


def proxyserve(port, ready):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", int(port)))
    s.listen(128)
    s.settimeout(1)
    with open(ready + ".tmp", "w") as f:
        f.write("ready\n")
    os.rename(ready + ".tmp", ready)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn, _ = s.accept()
        except socket.timeout:
            continue
        conn.settimeout(5)
        try:
            fields = proxy_header(conn)
            rest = b""
            while True:
                part = conn.recv(65536)
                if not part:
                    break
                rest += part
            answer = " ".join(fields + [str(len(rest)), hashlib.sha256(rest).hexdigest()[:16]])
        except (ValueError, KeyError, EOFError, OSError) as e:
            answer = "bad header " + type(e).__name__
        try:
            conn.sendall((answer + "\n").encode())
        except OSError:
            pass
        conn.close()


def proxysend(host, port, count):
    data = bytes(random.Random(7).getrandbits(8) for _ in range(int(count)))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((host, int(port)))
        local = s.getsockname()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while not answer.endswith(b"\n"):
            part = s.recv(512)
            if not part:
                break
            answer += part
        print(local[0], local[1], len(data), hashlib.sha256(data).hexdigest()[:16])
        print(answer.decode().strip())
    except OSError as e:
        print("ERROR", type(e).__name__)
        sys.exit(1)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None, sys.argv[4] if len(sys.argv) > 4 else None)
    elif sys.argv[1] == "syn":
        syn(*sys.argv[2:7])
    elif sys.argv[1] == "ask":
        ask(*sys.argv[2:6])
    elif sys.argv[1] == "proxyserve":
        proxyserve(*sys.argv[2:4])
    elif sys.argv[1] == "proxysend":
        proxysend(*sys.argv[2:5])
    elif sys.argv[1] == "stream":
        stream(*sys.argv[2:7])
    else:
        sys.exit(__doc__)
