"""Colour DRAW (Gregor et al. 2015; RGB by tiled attention, Frans 2016) in TensorFlow 1 style."""

__version__ = "0.1.0"
