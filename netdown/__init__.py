"""netdown: fleet telemetry for macOS extensions that get ENETDOWN while the Mac is online.

One import package for every role: :mod:`netdown.wire` is the contract the agent, the stream job,
the replay command and the tests share; :mod:`netdown.agent` and :mod:`netdown.stream` are the
two processes built on it.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
