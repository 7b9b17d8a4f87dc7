"""Scale-out: shards scanned in parallel by a Dask cluster of processes on 127.0.0.1
(docs/python.md, "Many stores: a parallel scan with Dask")."""

from __future__ import annotations

from pathlib import Path

import pytest

from simd_r_drive import DataStore

np = pytest.importorskip("numpy")
distributed = pytest.importorskip("distributed")
pytest.importorskip("dask.bag")

import scale_out  # noqa: E402  (after the importorskips)


def test_a_dask_cluster_scans_shards_read_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    paths = []
    expected = []
    for shard in range(4):
        path = tmp_path / f"shard-{shard}.bin"
        values = [rng.random(256, dtype=np.float32) for _ in range(50)]
        with DataStore(path) as store:
            store.batch_write([(f"s{shard}-{i}".encode(), value) for i, value in enumerate(values)])
        paths.append(str(path))
        expected.append((50, 50 * 256, float(sum(v.sum(dtype=np.float64) for v in values)),
                         float(max(v.max() for v in values))))
    # A writer keeps shard 0 open meanwhile: read-only workers take no lock.
    with DataStore(paths[0]) as writer:
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, silence_logs=40,
        ) as cluster:
            entries, elements, total, largest = scale_out.scan_shards(paths, cluster.scheduler_address)
        assert writer.read(b"s0-0") is not None
    want = scale_out.combine(expected)
    assert (entries, elements) == want[:2] == (200, 200 * 256)
    assert total == pytest.approx(want[2], rel=1e-9)
    assert largest == want[3]
    # The same reduction in this process agrees, shard by shard.
    assert [scale_out.scan_shard(path)[:2] for path in paths] == [(50, 12800)] * 4
