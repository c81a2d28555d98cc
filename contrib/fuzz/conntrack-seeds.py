#!/usr/bin/env python3
"""Writes the conntrack seeds of corpus/conntrack: ctnetlink dump replies (IPCTNL_MSG_CT_NEW)
shaped as the kernel sends them, built by hand because a dump needs live flows. Run from
contrib/fuzz: python3 conntrack-seeds.py"""
import struct

NESTED = 0x8000

def attr(kind, payload):
    data = struct.pack('=HH', 4 + len(payload), kind) + payload
    return data + b'\0' * (-len(data) % 4)

def nest(kind, *children):
    return attr(kind | NESTED, b''.join(children))

def tuple_(kind, src, dst, proto, sport, dport):
    v6 = len(src) == 16
    ip = nest(1, attr(3 if v6 else 1, src), attr(4 if v6 else 2, dst))          # CTA_TUPLE_IP
    pr = nest(2, attr(1, bytes([proto])), attr(2, struct.pack('>H', sport)),     # CTA_TUPLE_PROTO
              attr(3, struct.pack('>H', dport)))
    return nest(kind, ip, pr)

def message(family, body, seq=7, type_=0x100, flags=0x2):   # NFNL_SUBSYS_CTNETLINK<<8 | CT_NEW, NLM_F_MULTI
    payload = struct.pack('=BBH', family, 0, 0) + body        # nfgenmsg
    return struct.pack('=IHHII', 16 + len(payload), type_, flags, seq, 0) + payload

def done(seq=7):
    return struct.pack('=IHHIIi', 20, 3, 0x2, seq, 0, 0)

v4 = lambda *b: bytes(b)
v6 = lambda last: bytes([0xfd] + [0] * 14 + [last])
AF_INET, AF_INET6 = 2, 10
# A DNATed TCP flow: 192.0.2.50:40000 -> 192.0.2.1:8080, replies from 10.0.0.2:80.
dnat = message(AF_INET, tuple_(1, v4(192, 0, 2, 50), v4(192, 0, 2, 1), 6, 40000, 8080)
               + tuple_(2, v4(10, 0, 0, 2), v4(192, 0, 2, 50), 6, 80, 40000)
               + attr(12, struct.pack('>I', 0x1234)) + attr(18, struct.pack('>H', 0)))
# A masqueraded UDP flow: 10.88.0.5 -> 198.51.100.7:53, replies to the host's 203.0.113.9.
masq = message(AF_INET, tuple_(1, v4(10, 88, 0, 5), v4(198, 51, 100, 7), 17, 5353, 53)
               + tuple_(2, v4(198, 51, 100, 7), v4(203, 0, 113, 9), 17, 53, 5353)
               + attr(12, struct.pack('>I', 99)))
# IPv6, no reply tuple.
six = message(AF_INET6, tuple_(1, v6(1), v6(2), 6, 1234, 443) + attr(12, struct.pack('>I', 5)))
seeds = {
    'dnat-v4': dnat + done(),
    'masquerade-v4': masq,
    'v6-no-reply': six + done(),
    'dump-three': dnat + masq + six + done(),
    'error-enoent': struct.pack('=IHHIIi', 36, 2, 0x100, 7, 0, -2) + struct.pack('=IHHII', 16, 0x102, 5, 7, 0),
}
for name, data in seeds.items():
    with open(f'corpus/conntrack/{name}', 'wb') as f:
        f.write(data)
