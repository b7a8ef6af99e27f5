"""The real-time networks: architectures, training, one-pass stylizing, model files."""
