"""The per-track feature arrays one face pass writes, on disk."""
