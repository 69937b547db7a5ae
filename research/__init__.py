"""rayedit's research diagnostics: oracle evaluations of the toy models and editors, the Asyrp ceiling, filter ROC
analysis, and the weights of directions kept only for these measurements. Not part of the rayedit package (not in
the wheel): research imports rayedit, rayedit never imports research. Run from a checkout: ``python -m research``.
"""

from pathlib import Path

WEIGHTS = Path(__file__).resolve().parent / "weights"
"""Research-only trained artifacts (Asyrp directions measured in docs/measurements, not used by the demo)."""
