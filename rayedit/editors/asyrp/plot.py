"""A PNG of the LPIPS curves that choose Asyrp's editing and boosting intervals."""

from __future__ import annotations

from rayedit.editors.asyrp.intervals import BOOST_LPIPS, LpipsCurves


def plot_curves(curves: LpipsCurves, t_edit: int, t_boost: int, edit_threshold: float, path: str,
                label: str = "LPIPS") -> None:
    """LPIPS(x, P_t) and LPIPS(x, x_t) over t, with the thresholds and the chosen t_edit / t_boost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    ax.plot(curves.timesteps, curves.to_predicted_x0, label=f"{label}(x, P_t)")
    ax.plot(curves.timesteps, curves.to_noisy, label=f"{label}(x, x_t)")
    ax.axhline(edit_threshold, color="C0", ls=":", lw=1)
    ax.axhline(BOOST_LPIPS, color="C1", ls=":", lw=1)
    ax.axvline(t_edit, color="C0", ls="--", lw=1, label=f"t_edit = {t_edit}")
    ax.axvline(t_boost, color="C1", ls="--", lw=1, label=f"t_boost = {t_boost}")
    ax.set_xlabel("t")
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
