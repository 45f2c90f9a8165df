"""Fixtures that start real services: one Apache Kafka broker for the whole session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from netdown.devstack.kafka import KafkaBroker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration starts real services: mark it so `-m 'not integration'` works."""
    for item in items:
        if "tests/integration" in item.nodeid:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A real single-node KRaft broker on free ports with a fresh data dir, shared by the session."""
    with KafkaBroker(data_dir=tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name no other test uses, so tests sharing the broker never see each other's messages."""
    return f"test.{request.node.name[:40]}.{uuid.uuid4().hex[:8]}"
