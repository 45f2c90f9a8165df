"""Detection: the pure state machine that tells an NECP denial from a network that is really down
(:mod:`~netdown.detection.detector`), and the inventory that follows its transitions
(:mod:`~netdown.detection.inventory`) into the records it reports: incidents
(:mod:`~netdown.detection.incident`) and each device's facts (:mod:`~netdown.detection.device_facts`).

Pure (no I/O, no clock of its own), so the same code runs in the stream worker, the replay command, the
tests and, later, on the Mac itself; docs/design.md and docs/detection.md give the semantics."""
