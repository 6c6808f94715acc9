"""The topology test's one fixture: the production shape on namespace hosts (see ``stack``).

Runs as root only (network namespaces, system users, nginx on 80/443); any
other user gets a skip that says so. The whole topology is built once per
session and torn down at the end, also when a test fails.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .stack import Store, Topology, topology

#: Not under /tmp: every service gets a private /tmp, as PrivateTmp=true gives the units.
BASE = Path(os.environ.get("HOUSIFY_TOPOLOGY_DIR", "/var/lib/housify-topology"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.topology)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
async def topo() -> AsyncIterator[Topology]:
    if os.geteuid() != 0:
        pytest.skip("the topology test needs root (ip netns, useradd, nginx on ports 80/443); CI runs it as root")
    # S3 (SeaweedFS) is the store of a deployment over several hosts; HOUSIFY_TOPOLOGY_STORE=dir runs the directory store.
    store: Store = "dir" if os.environ.get("HOUSIFY_TOPOLOGY_STORE", "s3") == "dir" else "s3"
    async with topology(BASE, store=store) as running:
        yield running
