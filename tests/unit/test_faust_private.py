"""The private API of Faust, mode and aiokafka that ``netdown.stream.faust_private`` relies on is still there.

Each test names the attribute and the installed versions when an upgrade changed what the module
uses, so the upgrade fails here, not in a running worker. Attributes set in ``__init__`` are checked on
the class (annotation and assignment in its ``__init__``): a Faust consumer cannot be built without
an app and its event loops.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import re
from importlib.metadata import version

import mode
import pytest
from aiokafka import AIOKafkaClient, AIOKafkaProducer
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as aiokafka_driver
from mode.utils.locks import Event

from netdown.stream import faust_private
from netdown.stream.batching import BatchingConsumer
from netdown.stream.faust_private import DRAIN_MESSAGES_CHECKED_ON, DRAIN_MESSAGES_SHA256, BatchFetchConsumer

FAUST = version("faust-streaming")
VERSIONS = f"faust-streaming {FAUST}, mode-streaming {version('mode-streaming')}, aiokafka {version('aiokafka')}"
MODULE = "netdown.stream.faust_private"


def _broken(name: str, problem: str) -> str:
    return (
        f"{name} {problem} in {VERSIONS}: {MODULE} relies on it (its docstring says what for); "
        "adapt the module to the new version, or pin the old one"
    )


def _annotations(cls: type) -> dict[str, object]:
    """The attribute annotations of ``cls`` and its bases."""
    found: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        found.update(vars(klass).get("__annotations__", {}))
    return found


def _drain_messages_sha256() -> str:
    return hashlib.sha256(inspect.getsource(aiokafka_driver.Consumer._drain_messages).encode()).hexdigest()


def test_faust_still_runs_the_fetch_loop_the_batching_consumer_overrides() -> None:
    name = "faust.transport.drivers.aiokafka.Consumer._drain_messages"
    faust_loop = getattr(aiokafka_driver.Consumer, "_drain_messages", None)
    assert faust_loop is not None, _broken(name, "is gone")
    assert inspect.iscoroutinefunction(faust_loop), _broken(name, "is no longer a coroutine function")
    ours, theirs = (list(inspect.signature(f).parameters) for f in (BatchFetchConsumer._drain_messages, faust_loop))
    assert ours == theirs, _broken(name, f"takes {theirs}, the override {ours}")
    assert "consumer._drain_messages(self)" in inspect.getsource(faust_consumer.Fetcher), _broken(
        name, "is no longer what Faust's Fetcher runs (faust.transport.consumer.Fetcher._fetcher)"
    )


def test_the_fetch_loop_override_was_adapted_from_the_installed_faust_source() -> None:
    found = _drain_messages_sha256()
    assert found == DRAIN_MESSAGES_SHA256, (
        f"faust-streaming {FAUST} changed Consumer._drain_messages "
        f"({inspect.getsourcefile(aiokafka_driver.Consumer._drain_messages)}): its source is no longer the one "
        f"{MODULE}.BatchFetchConsumer._drain_messages was adapted from (checked on faust-streaming "
        f"{DRAIN_MESSAGES_CHECKED_ON}). Re-check the override against the new source and port what changed, "
        f"then set DRAIN_MESSAGES_SHA256 = {found!r} and DRAIN_MESSAGES_CHECKED_ON = {FAUST!r} in {MODULE}."
    )


@pytest.mark.parametrize(
    ("owner", "name", "parameters", "coroutine"),
    [
        pytest.param(aiokafka_driver.Consumer, "_add_gap", ["self", "tp", "offset_from", "offset_to"], True, id="gap"),
        pytest.param(aiokafka_driver.Producer, "_ensure_producer", ["self"], False, id="producer"),
        # Not underscored, but aiokafka's client is internal: the worker reaches it through kafka_client.
        pytest.param(AIOKafkaClient, "add_topic", ["self", "topic"], False, id="add-topic"),
    ],
)
def test_the_private_methods_used_keep_their_parameters(
    owner: type, name: str, parameters: list[str], coroutine: bool
) -> None:
    qualified = f"{owner.__module__}.{owner.__qualname__}.{name}"
    method = getattr(owner, name, None)
    assert method is not None, _broken(qualified, "is gone")
    found = list(inspect.signature(method).parameters)
    assert found == parameters, _broken(qualified, f"takes {found}, not {parameters}")
    assert inspect.iscoroutinefunction(method) == coroutine, _broken(
        qualified, "is a coroutine function no longer" if coroutine else "is a coroutine function now"
    )


def test_faust_producer_still_hands_out_the_aiokafka_producer() -> None:
    name = "faust.transport.drivers.aiokafka.Producer._ensure_producer"
    returns = inspect.signature(aiokafka_driver.Producer._ensure_producer).return_annotation
    assert returns in (AIOKafkaProducer, "aiokafka.AIOKafkaProducer"), _broken(name, f"returns {returns!r}")

    async def client() -> object:
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9")  # never started: no connection
        try:
            return producer.client
        finally:
            await producer.stop()

    found = asyncio.run(client())
    assert isinstance(found, AIOKafkaClient), _broken("aiokafka.AIOKafkaProducer.client", f"is a {type(found)}")


@pytest.mark.parametrize(
    ("name", "value", "used_by"),
    [
        # A partition not read since assigned or sought reads None: the fetch loop relies on it.
        pytest.param("_read_offset", "defaultdict(lambda: None)", None, id="read-offset"),
        # Acking a message takes it out of flight; a rebalance or a stop waits for the set to empty.
        pytest.param("_unacked_messages", "WeakSet()", ("ack", "wait_empty"), id="unacked"),
    ],
)
def test_the_consumer_attributes_used_are_still_set_up_as_they_were(
    name: str, value: str, used_by: tuple[str, ...] | None
) -> None:
    qualified = f"faust.transport.consumer.Consumer.{name}"
    assert name in _annotations(aiokafka_driver.Consumer), _broken(qualified, "is no longer declared")
    setup = inspect.getsource(faust_consumer.Consumer.__init__)
    assert re.search(rf"self\.{name} = {re.escape(value)}\n", setup), _broken(
        qualified, f"is no longer set to {value} in Consumer.__init__"
    )
    for method in used_by or ():
        assert f"self.{name}" in inspect.getsource(getattr(faust_consumer.Consumer, method)), _broken(
            qualified, f"is no longer used by Consumer.{method}"
        )


def test_mode_services_still_have_their_stopped_event() -> None:
    name = "mode.Service._stopped"
    assert "_stopped" in _annotations(mode.Service), _broken(name, "is no longer declared")
    for service in (aiokafka_driver.Consumer, faust_consumer.Fetcher):
        assert issubclass(service, mode.Service), _broken(name, f"is missing: {service.__qualname__} is no Service")
    stopped = mode.Service()._stopped
    assert isinstance(stopped, Event), _broken(name, f"is a {type(stopped)}, not a mode Event")
    assert faust_private.stop_check(mode.Service())() is False, _broken(name, "is set on a new service")


def test_the_batching_consumer_overrides_nothing_of_faust_but_the_fetch_loop() -> None:
    """A name the consumer classes add that Faust now uses too would replace Faust's silently."""
    faust_names = set(dir(aiokafka_driver.Consumer)) | set(_annotations(aiokafka_driver.Consumer))

    class Bare(aiokafka_driver.Consumer):  # what any subclass gets (mode sets a logger, abc its cache)
        pass

    for cls in (BatchFetchConsumer, BatchingConsumer):
        added = set(vars(cls)) - set(vars(Bare))
        clashes = sorted(added & faust_names - {"_drain_messages"})
        assert not clashes, (
            f"faust-streaming {FAUST} now defines {clashes} on its aiokafka Consumer, which "
            f"{cls.__module__}.{cls.__qualname__} overrides by accident: rename ours"
        )
