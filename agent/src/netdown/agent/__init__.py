"""The endpoint agent: observes the app's and the system's view of the network, publishes wire events."""

__all__: list[str] = []
