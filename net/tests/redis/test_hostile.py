"""Nothing a client sends crashes the server (docs/redis.md, "Design"): random bytes,
random commands with random arguments, truncated commands and clients that vanish,
each on its own connection, while a probe client keeps being served. Seeded, bounded;
run against the ASan+UBSan server too (scripts/run-tests.sh)."""
import random
import socket

import redis

COMMANDS = [b"GET", b"SET", b"GETDEL", b"DEL", b"UNLINK", b"EXISTS", b"MGET", b"MSET", b"STRLEN", b"GETRANGE",
            b"RENAME", b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT", b"TTL", b"PTTL", b"PERSIST", b"DBSIZE",
            b"INFO", b"CONFIG", b"COMMAND", b"CLIENT", b"HELLO", b"AUTH", b"SELECT", b"PING", b"ECHO", b"CLUSTER",
            b"CLUSTERX", b"KEYS", b"SCAN", b"SAVE", b"NOPE"]
WORDS = [b"EX", b"PX", b"EXAT", b"PXAT", b"NX", b"XX", b"GT", b"LT", b"GET", b"KEEPTTL", b"-1", b"0", b"1",
         b"9223372036854775807", b"-9223372036854775808", b"99999999999999999999", b"COUNT", b"INFO", b"DOCS",
         b"GETKEYS", b"SETNAME", b"GETNAME", b"ID", b"SLOTS", b"NODES", b"SETNODES", b"*", b"save", b"3", b"2",
         b"", b"\x00", b"a b", b"{tag}k"]


def multibulk(args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def send_and_drop(port, data, read=True):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
            if read:
                s.settimeout(0.1)
                s.recv(65536)
        except OSError:
            pass


def test_random_input_never_stops_the_server(server):
    rng = random.Random(15)
    probe = redis.Redis(port=server.port)
    assert probe.set("probe", "alive") is True
    for round_ in range(300):
        kind = rng.randrange(4)
        if kind == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        elif kind == 1:
            args = [rng.choice(COMMANDS)] + [rng.choice(WORDS + [bytes(rng.randrange(256) for _ in range(rng.randrange(8)))])
                                             for _ in range(rng.randrange(6))]
            data = multibulk(args)
        elif kind == 2:
            args = [rng.choice(COMMANDS)] + [rng.choice(WORDS) for _ in range(rng.randrange(5))]
            whole = multibulk(args)
            data = whole[:rng.randrange(1, len(whole))]  # cut short: the client vanishes mid-command
        else:
            data = b" ".join(rng.choice(COMMANDS + WORDS) for _ in range(rng.randrange(1, 6))) + rng.choice(
                [b"\r\n", b"\n", b"\"\r\n", b"'x\n"])
        send_and_drop(server.port, data, read=kind != 2)
        if round_ % 50 == 0:
            assert probe.get("probe") == b"alive"
    assert probe.get("probe") == b"alive"
    assert server.proc.poll() is None
