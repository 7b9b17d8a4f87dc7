"""The extensions as DataStore methods: TTL values, optional values, directory import."""

from __future__ import annotations

import math
import os
import struct
import time
from pathlib import Path

import pytest

from simd_r_drive import DataStore, NamespaceHasher, NotFoundError, compute_hash

TTL_NAMESPACE = b"\xf7ttl\xfd"
OPTION_NAMESPACE = b"\xf7option\xfd"


def test_ttl_values_read_back_until_they_expire(store: DataStore) -> None:
    store.write_with_ttl(b"session", b"token", 3600)
    assert store.read_with_ttl(b"session") == b"token"
    remaining = store.ttl_remaining(b"session")
    assert isinstance(remaining, int) and 3590 < remaining <= 3600
    store.write_with_ttl(b"gone", b"value", 0)  # expired at once, as in the original
    assert store.read_with_ttl(b"gone") is None
    assert store.read_with_ttl(b"gone") is None  # reading never deletes: still absent
    assert store.ttl_remaining(b"gone") is None
    assert store.ttl_remaining(b"never written") is None
    store.write_with_ttl(b"forever", b"value", None)
    assert store.ttl_remaining(b"forever") == math.inf
    assert store.read_with_ttl(b"forever") == b"value"


def test_the_ttl_layout_is_the_originals(store: DataStore) -> None:
    before = int(time.time())
    store.write_with_ttl(b"my_key", b"v", 60)
    raw = store.read(NamespaceHasher(TTL_NAMESPACE).namespace(b"my_key"))
    expiry = struct.unpack("<Q", raw[:8])[0]
    assert before + 60 <= expiry <= int(time.time()) + 60
    assert raw[8:] == b"v"
    assert compute_hash(NamespaceHasher(TTL_NAMESPACE).namespace(b"my_key")) == 0x25BF8CBF5DC32DE8


def test_purge_and_len_counts_the_registry(store: DataStore) -> None:
    store.write(b"plain", b"value")
    store.write_with_ttl(b"a", b"1", 0)
    store.write_with_ttl(b"b", b"2", 0)
    store.write_with_ttl(b"c", b"3", 3600)
    # Each TTL value has a registration entry beside it (docs/extensions.md), and len()
    # counts live keys: 1 plain + 3 values + 3 registrations.
    assert len(store) == 7
    assert store.purge_expired() == 2
    assert len(store) == 3
    assert store.purge_expired() == 0
    assert store.read_with_ttl(b"c") == b"3" and store.read(b"plain") == b"value"
    store.write_with_ttl(b"d", b"4", 0)
    assert store.compact_dropping_expired() == 1
    assert store.stats().tombstones == 0
    assert store.delete_with_ttl(b"c") is True
    assert store.delete_with_ttl(b"c") is False
    assert len(store) == 1


def test_optional_values(store: DataStore) -> None:
    store.write_option(b"nickname", None)
    store.write_option(b"name", b"Ada")
    store.write_option(b"marker", b"\xff\xfe")  # looks like the None marker: escaped
    assert store.read_option(b"nickname") is None  # present, None
    assert store.read_option(b"name") == b"Ada"
    assert store.read_option(b"marker") == b"\xff\xfe"
    with pytest.raises(KeyError):
        store.read_option(b"unknown")  # absent is not None
    assert store.read_option(b"unknown", default="fallback") == "fallback"
    assert store.read_option(b"unknown", None) is None
    # The original's None marker, under the original's namespace.
    assert store.read(NamespaceHasher(OPTION_NAMESPACE).namespace(b"nickname")) == b"\xff\xfe"
    with pytest.raises(ValueError):
        store.write_option(b"empty", b"")


def test_import_dir_recursively(store: DataStore, tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "css").mkdir(parents=True)
    (site / "index.html").write_bytes(b"<html></html>")
    (site / "css" / "main.css").write_bytes(b"body {}")
    (site / "empty.txt").write_bytes(b"")
    os.symlink(site / "index.html", site / "link.html")
    report = store.import_dir_recursively(site)
    assert [file.key for file in report.imported] == ["css/main.css", "index.html"]
    assert report.imported_bytes == 20
    assert {(file.key, file.reason) for file in report.skipped} == {
        ("empty.txt", "empty"),
        ("link.html", "symbolic_link"),
    }
    assert store.read(b"css/main.css") == b"body {}"
    assert bytes(store.read_file_entry("css/main.css")) == b"body {}"
    assert report.imported[0].size == 7 and report.imported[0].path.endswith("main.css")
    assert "ImportReport(imported=2" in repr(report)

    followed = store.import_dir_recursively(site, b"web", symlinks="follow_files")
    assert [file.key for file in followed.imported] == ["css/main.css", "index.html", "link.html"]
    key = NamespaceHasher(b"web").namespace(b"index.html")
    assert followed.imported[1].stored_key == key
    assert store.read(key) == b"<html></html>"
    assert bytes(store.read_file_entry("link.html", b"web")) == b"<html></html>"
    assert store.read_file_entry("nope") is None
    with pytest.raises(NotFoundError):
        store.import_dir_recursively(tmp_path / "missing")
