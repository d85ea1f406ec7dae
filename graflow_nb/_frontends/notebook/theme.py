"""How the panel looks: one stylesheet built on JupyterLab's theme variables (``--jp-*``).

Text keeps the theme's own font colours (readable in light and dark themes alike); states are told by
words and by coloured edges, never by colour alone, and no glyph needs an emoji font. Where a state's
words are coloured (errors), the shade is picked per theme so the text keeps a 4.5:1 contrast.
"""

from __future__ import annotations

import html

#: Added once per panel, as an HTML widget of its own (a style element in a widget's HTML applies to the page).
STYLESHEET = """<style>
.graflow-nb-panel { gap: 4px; color: var(--jp-ui-font-color1); font-family: var(--jp-ui-font-family); }
.graflow-nb-panel .gnb-header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.6em;
  font-size: var(--jp-ui-font-size1); line-height: 1.6; }
.graflow-nb-panel .gnb-title { font-weight: 600; color: var(--jp-ui-font-color0); }
.graflow-nb-panel .gnb-muted { color: var(--jp-ui-font-color2); font-size: var(--jp-ui-font-size0); }
.graflow-nb-panel .gnb-state { padding: 0 0.5em; border-radius: 3px; border: 1px solid var(--gnb-edge);
  border-left-width: 4px; color: var(--jp-ui-font-color1); font-size: var(--jp-ui-font-size0); }
.graflow-nb-panel .gnb-tasks { display: flex; flex-wrap: wrap; gap: 4px; }
.graflow-nb-panel .gnb-task { padding: 0 0.5em; border-radius: 3px; border: 1px solid var(--jp-border-color2);
  border-left: 4px solid var(--gnb-edge); font-size: var(--jp-ui-font-size0); color: var(--jp-ui-font-color1); }
.graflow-nb-panel .gnb-waiting { --gnb-edge: var(--jp-border-color1); }
.graflow-nb-panel .gnb-running, .graflow-nb-panel .gnb-asking { --gnb-edge: var(--jp-brand-color1); }
.graflow-nb-panel .gnb-completed, .graflow-nb-panel .gnb-approved,
.graflow-nb-panel .gnb-answered { --gnb-edge: var(--jp-success-color1); }
.graflow-nb-panel .gnb-paused, .graflow-nb-panel .gnb-timed-out { --gnb-edge: var(--jp-warn-color1); }
.graflow-nb-panel .gnb-failed, .graflow-nb-panel .gnb-cancelled, .graflow-nb-panel .gnb-stopped,
.graflow-nb-panel .gnb-rejected { --gnb-edge: var(--jp-error-color1); }
.graflow-nb-panel .gnb-closed, .graflow-nb-panel .gnb-moved-on { --gnb-edge: var(--jp-border-color1); }
.graflow-nb-request { border: 1px solid var(--jp-border-color2); border-left: 4px solid var(--gnb-edge);
  border-radius: 3px; padding: 6px 8px; margin: 2px 0; background: var(--jp-layout-color1); }
.graflow-nb-request .gnb-status { color: var(--jp-ui-font-color1); font-size: var(--jp-ui-font-size1); }
.graflow-nb-request .gnb-status b { color: var(--jp-ui-font-color0); }
.graflow-nb-panel .gnb-error { color: var(--jp-error-color0); }
body[data-jp-theme-light="false"] .graflow-nb-panel .gnb-error { color: var(--jp-error-color2); }
.graflow-nb-request .gnb-chosen:disabled { opacity: 1; box-shadow: 0 0 0 2px var(--jp-ui-font-color1) inset; }
.graflow-nb-request .widget-toggle-buttons .jupyter-button.mod-active {
  box-shadow: inset 0 0 0 2px var(--jp-brand-color1); font-weight: 600; }
.graflow-nb-request .widget-toggle-buttons .jupyter-button.mod-active:disabled { opacity: 1; }
.graflow-nb-request .jp-RenderedMarkdown p { margin: 0 0 4px 0; }
.graflow-nb-request .gnb-hidden { display: none !important; }
</style>"""


def state_label(state: str, css_state: str | None = None) -> str:
    """A state as a small labelled box: ``running``, ``paused: timed out`` ..."""
    css = (css_state or state).split(":", 1)[0].strip().replace("_", "-").replace(" ", "-")
    return f"<span class='gnb-state gnb-{html.escape(css)}'>{html.escape(state)}</span>"


def muted(text: str, title: str | None = None) -> str:
    """Secondary text (ids, times), with an optional tooltip."""
    tip = f" title='{html.escape(title)}'" if title else ""
    return f"<span class='gnb-muted'{tip}>{html.escape(text)}</span>"


def error_text(text: str) -> str:
    """An error message, in the theme's error colour at a readable shade."""
    return f"<span class='gnb-error'>{html.escape(text)}</span>"
