"""rayedit: edit image datasets at scale with diffusion models, on Ray Data."""

__version__ = "0.1.0"
