"""Delta Denoising Score editors (seed 001): zero-shot per-image optimisation and trained translators."""
