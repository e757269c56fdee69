"""Review projects: one SQLite file, its analysis queue, exports and agreement."""
