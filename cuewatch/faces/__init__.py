"""Faces in the video: finding, tracking, the face pass and the model it runs."""
