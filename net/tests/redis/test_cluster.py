"""Three servers with a static topology (docs/redis.md, "Cluster"): redis-py's
RedisCluster and redis-cli -c write 100,000 keys and read them back; each key is in
the store of the node that owns its slot and nowhere else (checked with the C++ API);
redis-benchmark --cluster runs against them; the redirects and errors are Redis's."""
import subprocess

import pytest
import redis
import redis.crc
from redis.cluster import ClusterNode, RedisCluster

from conftest import KEYCHECK, free_port, redis_cli

RANGES = [(0, 5460), (5461, 10922), (10923, 16383)]
IDS = [f"{i + 1:040d}" for i in range(3)]


def topology(servers):
    return "\n".join(f"{IDS[i]} 127.0.0.1 {s.port} master - {RANGES[i][0]}-{RANGES[i][1]}"
                     for i, s in enumerate(servers))


def owner(slot):
    return next(i for i, (first, last) in enumerate(RANGES) if first <= slot <= last)


@pytest.fixture
def cluster(start_server):
    servers = [start_server("--cluster") for _ in range(3)]
    text = topology(servers)
    for i, s in enumerate(servers):
        r = redis.Redis(port=s.port)
        assert r.execute_command("CLUSTERX", "SETNODEID", IDS[i]) == b"OK"
        assert r.execute_command("CLUSTERX", "SETNODES", text, 1) == b"OK"
        r.close()
    return servers


def slot_of(key):
    return redis.crc.key_slot(key.encode())


def test_cluster_commands_and_redirects(cluster):
    r = redis.Redis(port=cluster[0].port)
    assert r.execute_command("CLUSTER", "KEYSLOT", "123456789") == 0x31C3
    assert r.execute_command("CLUSTER", "MYID") == IDS[0].encode()
    info = r.execute_command("CLUSTER", "INFO").decode()
    assert "cluster_state:ok" in info and "cluster_slots_assigned:16384" in info
    assert "cluster_current_epoch:1" in info
    assert b"cluster_enabled:1" in redis_cli(cluster[0].port, "INFO", "cluster")
    slots = r.execute_command("CLUSTER", "SLOTS")
    assert sorted((s[0], s[1], s[2][1]) for s in slots) == [(RANGES[i][0], RANGES[i][1], cluster[i].port)
                                                            for i in range(3)]
    nodes = r.execute_command("CLUSTER", "NODES").decode().splitlines()
    assert len(nodes) == 3
    mine = [line for line in nodes if "myself" in line]
    assert len(mine) == 1 and mine[0].startswith(IDS[0]) and mine[0].endswith("0-5460")
    shards = r.execute_command("CLUSTER", "SHARDS")
    assert len(shards) == 3
    # A key of another node's slot: exactly "MOVED <slot> <ip>:<port>".
    key = next(f"k{i}" for i in range(1000) if owner(slot_of(f"k{i}")) == 1)
    with pytest.raises(redis.ResponseError) as moved:
        r.get(key)
    assert str(moved.value) == f"MOVED {slot_of(key)} 127.0.0.1:{cluster[1].port}"
    # (redis-cli ends an error with an empty line.)
    assert redis_cli(cluster[0].port, "GET", key).strip() == f"MOVED {slot_of(key)} 127.0.0.1:{cluster[1].port}".encode()
    # Keys of two slots in one command.
    with pytest.raises(redis.ResponseError) as crossslot:
        r.mset({"a": 1, "b": 2})
    assert str(crossslot.value) == "CROSSSLOT Keys in request don't hash to the same slot"
    # Hash tags keep keys together.
    mine_tag = next(f"{{t{i}}}" for i in range(1000) if owner(slot_of(f"t{i}")) == 0)
    assert r.mset({mine_tag + "a": 1, mine_tag + "b": 2}) is True
    # A topology of an older version is refused; the same one again is fine.
    text = topology(cluster)
    with pytest.raises(redis.ResponseError, match="Invalid cluster version"):
        r.execute_command("CLUSTERX", "SETNODES", text, 0)
    assert r.execute_command("CLUSTERX", "SETNODES", text, 1) == b"OK"
    assert r.execute_command("CLUSTERX", "VERSION") == 1
    with pytest.raises(redis.ResponseError, match="slot 5 is given to two nodes"):
        r.execute_command("CLUSTERX", "SETNODES", text + f"\n{'9' * 40} 127.0.0.1 1 master - 5", 2)
    with pytest.raises(redis.ResponseError, match="cluster mode"):
        r.execute_command("SELECT", 1)


def test_100k_keys_land_on_the_nodes_that_own_their_slots(cluster, tmp_path):
    rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", cluster[0].port)])
    keys = [f"key:{i}" for i in range(100_000)]
    # 90,000 through RedisCluster's pipelines (it groups commands by node)...
    for start in range(0, 90_000, 5000):
        p = rc.pipeline()
        for k in keys[start:start + 5000]:
            p.set(k, "v:" + k)
        assert p.execute() == [True] * 5000
    # ...10,000 through redis-cli -c, one command per line, following MOVED.
    lines = "".join(f"SET {k} v:{k}\n" for k in keys[90_000:]).encode()
    out = redis_cli(cluster[0].port, input=lines, cluster=True)
    assert out.count(b"OK\n") == 10_000, out[:500]
    # Every key reads back, through RedisCluster...
    for start in range(0, 100_000, 5000):
        p = rc.pipeline()
        for k in keys[start:start + 5000]:
            p.get(k)
        assert p.execute() == [("v:" + k).encode() for k in keys[start:start + 5000]]
    # ...and redis-cli -c (a sample).
    sample = keys[::1000]
    out = redis_cli(cluster[2].port, input="".join(f"GET {k}\n" for k in sample).encode(), cluster=True)
    values = [line for line in out.decode().splitlines() if not line.startswith("-> Redirected to slot")]
    assert values == ["v:" + k for k in sample]
    # Each key is in its owner's store file, and in no other (the C++ API, read-only).
    for node in range(3):
        listing = "".join(f"{k}\tv:{k}\n" if owner(slot_of(k)) == node else f"{k}\n" for k in keys)
        result = subprocess.run([KEYCHECK, cluster[node].store], input=listing.encode(), capture_output=True,
                                timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert b"checked 100000, wrong 0" in result.stdout
    rc.close()


def test_redis_benchmark_runs_against_the_cluster(cluster):
    result = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(cluster[0].port), "--cluster",
                             "-t", "set,get", "-n", "3000", "-r", "100000", "-c", "6", "-q"],
                            capture_output=True, timeout=120)
    text = result.stdout.decode(errors="replace")
    assert result.returncode == 0, text + result.stderr.decode(errors="replace")
    assert "SET:" in text and "GET:" in text and "requests per second" in text, text
    assert "error" not in text.lower(), text


def test_a_topology_file(start_server, tmp_path):
    port = free_port()
    node = "f" * 40
    path = tmp_path / "topology.txt"
    path.write_text(f"# one node owns every slot\nversion 7\n{node} 127.0.0.1 {port} master - 0-16383\n")
    server = start_server("--cluster-topology", str(path), resp_port=port)
    r = redis.Redis(port=server.port)
    assert r.execute_command("CLUSTER", "MYID") == node.encode()  # found by its address
    assert r.execute_command("CLUSTERX", "VERSION") == 7
    assert r.set("any", "key") is True and r.get("any") == b"key"
    rc = RedisCluster(host="127.0.0.1", port=server.port)
    assert rc.mset_nonatomic({"a": 1, "b": 2, "c": 3}) == [True, True, True]
    assert rc.mget_nonatomic(["a", "b", "c"]) == [b"1", b"2", b"3"]
    rc.close()
