"""Asyrp: semantic directions in the h-space of a frozen diffusion model (seed 002)."""
