"""Files in and out: images (read upright, written atomically with metadata), input and
output paths, and the built-in sample images."""
