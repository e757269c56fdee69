"""Consent records and what they allow."""
