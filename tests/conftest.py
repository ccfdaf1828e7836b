"""Shared fixtures and paths for the Python suite."""

from pathlib import Path

import pytest

import zsrs

DATA = Path(__file__).parent / "data"


@pytest.fixture
def mem() -> zsrs.Memory:
    return zsrs.Memory(nodes=[4096, 4096])


@pytest.fixture
def pool(mem: zsrs.Memory) -> zsrs.Pool:
    return zsrs.Pool(mem, "test")
