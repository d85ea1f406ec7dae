"""What a request's ``preview`` function returns, made into an output the control's Output widget shows."""

from __future__ import annotations

import sys
from typing import Any


def display_data(shown: Any) -> dict[str, Any]:
    """An output the Output widget shows as is: ``shown`` formatted by IPython (text, HTML, PNG...).

    A matplotlib figure becomes a PNG whatever backend the notebook chose (with ``Agg`` IPython would
    only give its text form, ``<Figure size ...>``).
    """
    from IPython import get_ipython

    if _is_figure(shown):
        return {"output_type": "display_data", "data": _figure_png(shown), "metadata": {}}
    shell = get_ipython()
    if isinstance(shown, str) or shell is None:
        data, metadata = {"text/plain": str(shown)}, {}
    else:
        data, metadata = shell.display_formatter.format(shown)
    return {"output_type": "display_data", "data": data, "metadata": metadata}


def _is_figure(shown: Any) -> bool:
    figure_module = sys.modules.get("matplotlib.figure")
    return figure_module is not None and isinstance(shown, figure_module.Figure)


def _figure_png(figure: Any) -> dict[str, str]:
    import base64
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"), "text/plain": repr(figure)}


def close_if_figure(shown: Any) -> None:
    """Close a matplotlib figure once displayed, so the cell does not show it again."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None and _is_figure(shown):
        pyplot.close(shown)
