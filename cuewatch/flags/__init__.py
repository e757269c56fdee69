"""Where the face conflicts with the stated mood: incongruence flags and gaps."""
