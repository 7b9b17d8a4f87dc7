"""Every supported command through redis-py and redis-cli, with their errors, and
binary-safe values (docs/redis.md, "Commands")."""
import socket
import subprocess
import time

import pytest
import redis

from conftest import redis_cli


@pytest.fixture
def r(server):
    client = redis.Redis(host="127.0.0.1", port=server.port)
    yield client
    client.close()


def raw(port, data, read_until=None, timeout=5.0):
    """Sends bytes on a fresh connection and returns what comes back until the
    server closes, `read_until` bytes have come, or the timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if read_until is not None and len(got) >= read_until:
                break
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            got += chunk
        return got


def test_connection_commands(r, server):
    assert r.ping() is True
    assert redis_cli(server.port, "PING", "hi") == b"hi\n"  # redis-py turns any PING answer into a bool
    assert r.echo(b"a\x00b") == b"a\x00b"
    assert r.execute_command("SELECT", 0) is True
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.execute_command("SELECT", 1)
    assert r.client_setname("tester") is True
    assert r.client_getname() == "tester"
    with pytest.raises(redis.ResponseError, match="cannot contain spaces"):
        r.client_setname("a b")
    assert isinstance(r.client_id(), int)
    hello = r.execute_command("HELLO", 2)
    assert hello[hello.index(b"proto") + 1] == 2
    assert hello[hello.index(b"server") + 1] == b"redis"
    with pytest.raises(redis.ResponseError, match="NOPROTO"):
        r.execute_command("HELLO", 3)
    # Without a configured token, AUTH answers as Redis does.
    with pytest.raises(redis.ResponseError, match="without any password configured"):
        r.execute_command("AUTH", "x")
    # QUIT: +OK, then the connection is closed.
    assert raw(server.port, b"QUIT\r\n") == b"+OK\r\n"


def test_inline_commands_and_separators(server):
    assert raw(server.port, b"PING\r\n", read_until=7) == b"+PONG\r\n"
    out = raw(server.port, b"*-1\r\nset foo 123\nget foo\r\n*3\r\n$3\r\nset\r\n$3\r\nkey\r\n$3\r\nval\r\n", read_until=21)
    assert out == b"+OK\r\n$3\r\n123\r\n+OK\r\n"
    assert raw(server.port, b"\r\n*1\r\n$4\r\nPING\r\n", read_until=7) == b"+PONG\r\n"
    # Protocol errors: Redis's text, then the server closes the connection.
    assert raw(server.port, b"*3000000000\r\n") == b"-ERR Protocol error: invalid multibulk length\r\n"
    assert raw(server.port, b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n") == b"-ERR Protocol error: invalid bulk length\r\n"
    assert raw(server.port, b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2147483648\r\n") == b"-ERR Protocol error: invalid bulk length\r\n"
    assert raw(server.port, b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n") == b"-ERR Protocol error: invalid bulk length\r\n"
    assert raw(server.port, b"*1\r\nfoo\r\n") == b"-ERR Protocol error: expected '$', got 'f'\r\n"
    assert raw(server.port, b"*3\n$3\r\nset\r\n") == b"-ERR Protocol error: invalid multibulk length\r\n"
    assert raw(server.port, b"ping x y z\r\n", read_until=10) == b"-ERR wrong number of arguments for 'ping' command\r\n"


def test_set_and_its_options(r):
    assert r.set("k", "v") is True
    assert r.get("k") == b"v"
    assert r.set("k", "w", nx=True) is None
    assert r.get("k") == b"v"
    assert r.set("k", "w", xx=True) is True
    assert r.set("missing", "w", xx=True) is None
    assert r.get("missing") is None
    assert r.set("k", "x", get=True) == b"w"
    assert r.set("new", "x", get=True) is None
    assert r.set("k", "y", ex=100) is True
    assert 98 <= r.ttl("k") <= 100
    assert r.set("k", "y2", keepttl=True) is True
    assert 98 <= r.ttl("k") <= 100
    assert r.set("k", "z", px=100000) is True
    assert 98000 <= r.pttl("k") <= 101000
    at = int(time.time()) + 200
    assert r.set("k", "z", exat=at) is True
    assert 198 <= r.ttl("k") <= 200
    assert r.set("k", "z", pxat=at * 1000) is True
    assert 198 <= r.ttl("k") <= 200
    assert r.set("k", "plain") is True
    assert r.ttl("k") == -1
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'set' command"):
        r.set("k", "v", ex=0)
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SET", "k", "v", "NX", "XX")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.execute_command("SET", "k", "v", "EX", "ten")
    # An expiry in the past: set and gone at once.
    assert r.set("past", "v", exat=1000) is True
    assert r.get("past") is None


def test_string_commands(r):
    assert r.mset({"a": "1", "b": "22", "c": "333"}) is True
    assert r.mget("a", "b", "nope", "c") == [b"1", b"22", None, b"333"]
    assert r.exists("a", "b", "nope", "a") == 3
    assert r.strlen("c") == 3
    assert r.strlen("nope") == 0
    r.set("s", "Hello World")
    assert r.getrange("s", 0, 4) == b"Hello"
    assert r.getrange("s", -5, -1) == b"World"
    assert r.getrange("s", 6, 1000) == b"World"
    assert r.getrange("s", 5, 1) == b""
    assert r.getrange("nope", 0, -1) == b""
    assert r.getdel("a") == b"1"
    assert r.get("a") is None
    assert r.getdel("a") is None
    assert r.delete("b", "c", "nope") == 2
    r.set("u", "1")
    assert r.unlink("u", "u") == 1
    r.set("from", "value")
    assert r.rename("from", "to") is True
    assert r.get("from") is None and r.get("to") == b"value"
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.rename("from", "x")
    assert r.rename("to", "to") is True


def test_expiry_commands(r):
    r.set("k", "v")
    assert r.ttl("k") == -1 and r.pttl("k") == -1
    assert r.ttl("nope") == -2 and r.pttl("nope") == -2
    assert r.expire("k", 100) is True
    assert 98 <= r.ttl("k") <= 100
    assert r.get("k") == b"v"
    assert r.expire("nope", 100) is False
    assert r.execute_command("EXPIRE", "k", 50, "NX") == 0
    assert r.execute_command("EXPIRE", "k", 50, "XX") == 1
    assert r.execute_command("EXPIRE", "k", 40, "GT") == 0
    assert r.execute_command("EXPIRE", "k", 60, "GT") == 1
    assert r.execute_command("EXPIRE", "k", 70, "LT") == 0
    assert r.pexpire("k", 200000) is True
    assert r.expireat("k", int(time.time()) + 300) is True
    assert r.pexpireat("k", int(time.time() * 1000) + 400000) is True
    assert 398 <= r.ttl("k") <= 401
    assert r.persist("k") is True
    assert r.ttl("k") == -1
    assert r.persist("k") is False
    assert r.persist("nope") is False
    # An expiry that passes: the key is gone for every command.
    r.set("short", "v", px=1200)
    assert r.exists("short") == 1
    deadline = time.monotonic() + 10
    while r.exists("short") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert r.get("short") is None
    assert r.ttl("short") == -2
    assert r.strlen("short") == 0
    # A non-positive EXPIRE deletes.
    r.set("d", "v")
    assert r.expire("d", 0) is True
    assert r.get("d") is None


def test_binary_safe_keys_and_values(r):
    key = b"k\x00\r\n\xff"
    value = b"\x00\r\n\r\nbinary\x00\xff" * 100
    assert r.set(key, value) is True
    assert r.get(key) == value
    assert r.strlen(key) == len(value)
    big = bytes(range(256)) * 4096  # 1 MiB
    r.set("big", big)
    assert r.get("big") == big
    # Values the store cannot hold as a plain entry.
    r.set("empty", b"")
    assert r.get("empty") == b""
    assert r.exists("empty") == 1
    r.set("nul", b"\x00")
    assert r.get("nul") == b"\x00"
    assert r.ttl("nul") == -1
    # A pipeline of many commands in one write.
    p = r.pipeline(transaction=False)
    for i in range(1000):
        p.set(f"p{i}", f"v{i}\r\n")
    for i in range(1000):
        p.get(f"p{i}")
    results = p.execute()
    assert results[:1000] == [True] * 1000
    assert results[1000:] == [f"v{i}\r\n".encode() for i in range(1000)]


def test_server_commands(r):
    r.set("a", "1")
    assert r.dbsize() == 1
    r.set("b", "2", ex=100)
    # A key with an expiry is one key, though the store holds it as two entries (its
    # TTL value and registry entry; docs/redis.md).
    assert r.dbsize() == 2
    info = r.info()
    assert info["redis_version"] == "7.0.0"
    assert info["cluster_enabled"] == 0
    assert info["aof_enabled"] == 0
    assert info["db0"]["keys"] == 2
    assert info["db0"]["expires"] == 1
    # The store keeps whole seconds and rounds an expiry up (docs/redis.md).
    assert 99_000 < info["db0"]["avg_ttl"] <= 101_000
    for section in ("server", "keyspace", "persistence", "cluster"):
        assert r.info(section)
    assert r.config_get("save") == {"save": ""}
    assert r.config_get("appendonly") == {"appendonly": "no"}
    assert r.config_get("nothing-like-this") == {}
    assert r.save() is True
    with pytest.raises(redis.ResponseError, match="not supported"):
        r.keys()
    with pytest.raises(redis.ResponseError, match="not supported"):
        r.scan()
    with pytest.raises(redis.ResponseError, match="not supported"):
        r.randomkey()


def test_command_table(r):
    # redis-py parses any reply to a command named COMMAND as the table: the
    # subcommands go as "COMMAND X", which it splits before sending.
    count = r.command_count()
    table = r.command()
    assert len(table) == count
    # The key positions clients route by: arity, flags, first key, last key, step.
    assert table["get"]["arity"] == 2 and table["get"]["first_key_pos"] == 1
    assert "readonly" in table["get"]["flags"]
    assert (table["mset"]["arity"], table["mset"]["first_key_pos"], table["mset"]["last_key_pos"],
            table["mset"]["step_count"]) == (-3, 1, -1, 2)
    assert (table["del"]["first_key_pos"], table["del"]["last_key_pos"], table["del"]["step_count"]) == (1, -1, 1)
    assert (table["rename"]["first_key_pos"], table["rename"]["last_key_pos"]) == (1, 2)
    assert table["ping"]["first_key_pos"] == 0
    assert "write" in table["set"]["flags"]
    info = r.execute_command("COMMAND INFO", "get", "nosuch")
    assert info[0][0] == b"get" and info[1] is None
    assert r.execute_command("COMMAND GETKEYS", "MSET", "a", "1", "b", "2") == ["a", "b"]
    assert r.execute_command("COMMAND GETKEYS", "RENAME", "x", "y") == ["x", "y"]
    with pytest.raises(redis.ResponseError, match="no key arguments"):
        r.execute_command("COMMAND GETKEYS", "PING")
    docs = r.execute_command("COMMAND DOCS", "get")
    assert docs[0] == b"get"


def test_errors_have_redis_wording(r):
    with pytest.raises(redis.ResponseError) as error:
        r.execute_command("FLUSHALL", "ASYNC", "x")
    assert str(error.value) == "unknown command 'FLUSHALL', with args beginning with: 'ASYNC' 'x' "
    with pytest.raises(redis.ResponseError) as error:
        r.execute_command("GET")
    assert str(error.value) == "wrong number of arguments for 'get' command"
    with pytest.raises(redis.ResponseError) as error:
        r.execute_command("GET", "a", "b")
    assert str(error.value) == "wrong number of arguments for 'get' command"
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'mset' command"):
        r.execute_command("MSET", "a", "1", "b")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.execute_command("GETRANGE", "a", "x", "1")
    with pytest.raises(redis.ResponseError, match="unknown subcommand"):
        r.execute_command("CLIENT", "NOPE")
    with pytest.raises(redis.ResponseError, match="cluster support disabled"):
        r.execute_command("CLUSTER", "INFO")


def test_redis_cli_runs_every_command(server):
    p = server.port
    assert redis_cli(p, "PING") == b"PONG\n"
    assert redis_cli(p, "ECHO", "hi") == b"hi\n"
    assert redis_cli(p, "SET", "k", "v") == b"OK\n"
    assert redis_cli(p, "SET", "k", "w", "GET") == b"v\n"
    assert redis_cli(p, "SET", "e", "v", "EX", "100") == b"OK\n"
    assert redis_cli(p, "GET", "k") == b"w\n"
    assert redis_cli(p, "GETRANGE", "k", "0", "0") == b"w\n"
    assert redis_cli(p, "STRLEN", "k") == b"1\n"
    assert redis_cli(p, "MSET", "a", "1", "b", "2") == b"OK\n"
    assert redis_cli(p, "MGET", "a", "b", "c") == b"1\n2\n\n"
    assert redis_cli(p, "EXISTS", "a", "b", "c") == b"2\n"
    assert redis_cli(p, "TTL", "e") in (b"100\n", b"99\n")
    assert int(redis_cli(p, "PTTL", "e")) > 98000
    assert redis_cli(p, "PERSIST", "e") == b"1\n"
    assert redis_cli(p, "EXPIRE", "e", "100") == b"1\n"
    assert redis_cli(p, "RENAME", "a", "z") == b"OK\n"
    assert redis_cli(p, "GETDEL", "z") == b"1\n"
    assert redis_cli(p, "DEL", "b", "e") == b"2\n"
    assert redis_cli(p, "UNLINK", "k") == b"1\n"
    assert redis_cli(p, "DBSIZE") == b"0\n"
    assert redis_cli(p, "SELECT", "0") == b"OK\n"
    assert redis_cli(p, "CLIENT", "ID").strip().isdigit()
    assert redis_cli(p, "CONFIG", "GET", "appendonly") == b"appendonly\nno\n"
    assert b"cluster_enabled:0" in redis_cli(p, "INFO", "cluster")
    assert redis_cli(p, "COMMAND", "COUNT").strip().isdigit()
    assert redis_cli(p, "SAVE") == b"OK\n"
    assert redis_cli(p, "NOPE", "x") .startswith(b"ERR unknown command 'NOPE', with args beginning with: 'x'")
    assert redis_cli(p, "KEYS", "*").startswith(b"ERR keys is not supported")
    # Binary-safe through redis-cli: the value from stdin (-x), with NUL and CR LF.
    value = b"one\x00two\r\nthree"
    assert redis_cli(p, "-x", "SET", "bin", input=value) == b"OK\n"
    assert redis_cli(p, "--no-raw", "GET", "bin") == b'"one\\x00two\\r\\nthree"\n'
    assert redis_cli(p, "STRLEN", "bin") == f"{len(value)}\n".encode()
    # Commands from stdin, one per line (a pipe: not a terminal).
    assert redis_cli(p, input=b"SET x 1\nGET x\nDEL x\n") == b"OK\n1\n1\n"


def test_a_token_is_the_auth_password(start_server):
    import os
    env = dict(os.environ, SRD_SERVER_TOKEN="s3cret")
    server = start_server(env=env)
    anonymous = redis.Redis(host="127.0.0.1", port=server.port)
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("k")
    with pytest.raises(redis.ResponseError, match="WRONGPASS"):
        redis.Redis(host="127.0.0.1", port=server.port, password="wrong").ping()
    client = redis.Redis(host="127.0.0.1", port=server.port, password="s3cret")
    assert client.set("k", "v") is True
    named = redis.Redis(host="127.0.0.1", port=server.port, username="default", password="s3cret")
    assert named.get("k") == b"v"
    assert redis_cli(server.port, "--no-auth-warning", "-a", "s3cret", "GET", "k") == b"v\n"
    hello = named.execute_command("HELLO", 2, "AUTH", "default", "s3cret")
    assert hello[hello.index(b"proto") + 1] == 2


def test_tls(start_server, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    server = start_server("--tls-cert", str(cert), "--tls-key", str(key))
    client = redis.Redis(host="127.0.0.1", port=server.port, ssl=True, ssl_ca_certs=str(cert))
    assert client.set("k", b"over\x00tls") is True
    assert client.get("k") == b"over\x00tls"
    assert redis_cli(server.port, "--tls", "--cacert", str(cert), "GET", "k") == b"over\x00tls\n"
    # A plain-text client on the TLS port gets nothing it can use, and the server
    # carries on.
    with pytest.raises(redis.ConnectionError):
        redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=5).ping()
    assert client.ping() is True
