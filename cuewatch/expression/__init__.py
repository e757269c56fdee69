"""What a face shows over time: action units, prototype matches, valence."""
