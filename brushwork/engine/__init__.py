"""The optimiser engine (Gatys et al.): VGG-19 features, losses, the optimisation loop,
style transfer and its relatives, colour handling, devices and quality metrics."""
