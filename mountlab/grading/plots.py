"""The class report's plots: matplotlib figures written as SVG text, to be put inline in the page
(nothing to fetch: text stays text, with the page's fonts, and no image file beside the page).

matplotlib is imported here only, when a report is asked for.
"""

from __future__ import annotations

import io


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("the class report draws its plots with matplotlib, which is not "
                           "installed: pip install matplotlib (./workshop's venv has it)") from None
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none",  # text as <text>: small, uses the page's font
                         "svg.hashsalt": "mountlab",  # the same ids every time
                         "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _svg(fig) -> str:
    buf = io.StringIO()
    # No <metadata> block (its RDF namespaces, a date): the same plot gives the same text.
    fig.savefig(buf, format="svg", bbox_inches="tight",
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]  # no XML prolog nor DOCTYPE inside an HTML page


def histograms(panels: list[tuple[str, int, list[int]]], ylabel: str) -> str:
    """One small histogram per (title, maximum, points of each learner), in a grid: an SVG."""
    plt = _pyplot()
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), squeeze=False)
    for ax, (title, maximum, points) in zip(axes.flat, panels, strict=False):
        # One bar per whole point up to 30, wider bins beyond: a total of 120 reads better so.
        width = 1 if maximum <= 30 else max(1, maximum // 24)
        edges = [x - 0.5 for x in range(0, maximum + width + 1, width)]
        ax.hist(points, bins=edges, color="#3b6ea8", edgecolor="white", linewidth=0.5)
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_xlim(-0.5 - width / 2, maximum + width / 2 + 0.5)
        ax.set_xlabel("points")
        ax.axvline(maximum / 2, color="#b03030", linewidth=0.8, linestyle=":")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(ylabel)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    svg = _svg(fig)
    plt.close(fig)
    return svg
