"""Evidence sources of the agent, one module each (like node_exporter's collectors).

A source module registers itself with :func:`netdown.agent.sources.base.register`; importing this
package discovers every module in it, so adding a source touches only its own module, test and
fixtures, never a central list.
"""

from __future__ import annotations

import importlib
import pkgutil

from netdown.agent.sources.base import REGISTRY, Observation, Source, SourceFactory, register

__all__ = ["REGISTRY", "Observation", "Source", "SourceFactory", "discover", "register"]


def discover() -> dict[str, SourceFactory]:
    """Import every source module of this package (each registers itself) and return the registry."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
    return dict(REGISTRY)
