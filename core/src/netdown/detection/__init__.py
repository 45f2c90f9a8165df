"""Detection: the pure state machine that tells an NECP denial from a network that is really down, and the
incident record it reports. Pure (no I/O, no clock of its own), so the same code runs in the stream worker,
the replay command, the tests and, later, on the Mac itself; docs/design.md and docs/detection.md give the
semantics."""
