"""livebg: real-time webcam virtual background with matting, on your own machine."""

__version__ = "0.1.0"
