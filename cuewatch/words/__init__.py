"""What the client says: transcripts and the mood each utterance states."""
