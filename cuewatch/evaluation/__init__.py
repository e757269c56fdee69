"""Measuring the stages against labelled faces: shared by benchmarks/ and the tests."""
