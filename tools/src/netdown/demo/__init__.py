"""The local demo (``netdown-demo``, ``make demo``): a simulated fleet through the real pipeline, watched live."""
