"""One recording end to end: a pure function of (video, settings, model)."""
