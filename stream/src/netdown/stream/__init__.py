"""The stream job: correlates the app's and the system's view per device, in event time."""

__all__: list[str] = []
