"""Audio -> features: the schema, extraction, spectral kernels, spectrograms, pre-trained musicnn front ends."""
