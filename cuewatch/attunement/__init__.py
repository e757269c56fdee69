"""Attunement: how the therapist's face and words answer the client's (issue 13)."""
