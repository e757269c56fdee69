"""Reading video: probing, decoding, sampling, decoder timestamps, rotation."""
