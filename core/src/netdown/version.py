"""The release every netdown distribution shares: the agent stamps it on its events, the worker and the
dashboards publisher report it. The distributions are released in lockstep, so one number serves them all
(a unit test holds each member's pyproject.toml to it)."""

from typing import Final

__all__ = ["__version__"]

__version__: Final = "0.2.0"
