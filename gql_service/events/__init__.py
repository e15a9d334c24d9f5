"""The event log: every change recorded once, the tailer and the live feed."""
