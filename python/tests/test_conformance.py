"""The conformance cases against the in-process DataStore (the network client's run is
in test_ws_client.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import conformance
from conftest import CASES_DIR
from simd_r_drive import compute_hash

CASES = conformance.case_names(CASES_DIR)


def test_the_cases_are_there() -> None:
    assert len(CASES) >= 16, f"conformance cases missing from {CASES_DIR}"
    assert "random_against_a_model" in CASES


@pytest.mark.parametrize("name", CASES)
def test_in_process(name: str, tmp_path: Path) -> None:
    adapter = conformance.InProcess(tmp_path / "store.bin")
    try:
        conformance.run_case(conformance.load_case(CASES_DIR, name), adapter, compute_hash)
    finally:
        adapter.close()


def test_the_random_walk_matches_the_specification() -> None:
    # The first numbers of splitmix64 from seed 7, as any implementation of the README's
    # generator must draw them (computed independently of conformance.py).
    rng = conformance.SplitMix64(7)
    state = 7
    for _ in range(5):
        state = (state + 0x9E3779B97F4A7C15) % 2**64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
        assert rng.next() == z ^ (z >> 31)
    assert conformance.pattern(5) == bytes([6, 37, 68, 99, 130])
