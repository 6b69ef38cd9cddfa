"""A widget without a kernel: its default state as static HTML and figures, and how to run it live.

An executed notebook keeps its widgets' state (nbclient stores it in ``metadata.widgets``), but a
page without a kernel cannot draw a live slider, and the ipywidgets manager that could draw a frozen
one is fetched from a CDN. :func:`freeze` instead replaces every widget output of a cell by what the
widget showed when the cell ran: a note that says how to run it live (``t("w_static")``), each
control's label and value, each HTML panel, and each ``Output`` widget's figures as ordinary
image outputs (so the book saves them as image files and the slides embed them).
"""
from __future__ import annotations

import html
import re

from ..i18n import t

# how a frozen widget looks in the slides and the book: a bar on the left, the controls in a row
CSS = (".peft-lab-static-widget { border-left: 4px solid #4C72B0; padding: 0.3em 0.8em; margin: 0.4em 0; }\n"
       ".peft-lab-static-widget code { margin-right: 1em; }\n")
VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"


def _models(nb: dict) -> dict:
    return nb.get("metadata", {}).get("widgets", {}).get(STATE, {}).get("state", {})


def _walk(model_id: str, models: dict, seen: set) -> list[dict]:
    """The models under ``model_id``, depth first (children of boxes, in order)."""
    if model_id in seen or model_id not in models:
        return []
    seen.add(model_id)
    model = models[model_id]
    found = [model]
    for child in model.get("state", {}).get("children", []):
        found += _walk(str(child).removeprefix("IPY_MODEL_"), models, seen)
    return found


def _control(state: dict) -> str | None:
    """A control's label and value as text (a slider, a dropdown, a button, a progress bar)."""
    label = state.get("description", "")
    if "value" in state and isinstance(state["value"], (int, float, str)) and not isinstance(state["value"], bool):
        value = state["value"]
        if "_options_labels" in state and isinstance(value, int):   # a dropdown stores its index
            value = state["_options_labels"][value] if 0 <= value < len(state["_options_labels"]) else value
        return f"{label} {value}".strip()
    return f"[{label}]" if label else None


def frozen_outputs(view: dict, nb: dict) -> list[dict]:
    """What replaces one widget output: a text/html note with the controls and HTML panels, then the
    ``Output`` widgets' own outputs (figures) unchanged."""
    models = _models(nb)
    parts, figures = [], []
    for model in _walk(view.get("model_id", ""), models, set()):
        name, state = model.get("model_name", ""), model.get("state", {})
        if name == "OutputModel":
            figures += [dict(o) for o in state.get("outputs", [])]
        elif name in ("HTMLModel", "HTMLMathModel"):
            parts.append(f"<div>{state.get('value', '')}</div>")
        elif name.endswith("Model") and not name.endswith(("BoxModel", "LayoutModel", "StyleModel")):
            if (text := _control(state)) is not None:
                parts.append(f"<code>{html.escape(text)}</code>")
    note = "<p><em>" + re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(t("w_static"))) + "</em></p>"
    box = f'<div class="peft-lab-static-widget">{note}{" ".join(parts)}</div>'
    return [{"output_type": "display_data", "metadata": {}, "data": {"text/html": box}}, *figures]


def freeze(nb: dict) -> dict:
    """Replace every widget output of ``nb`` by :func:`frozen_outputs` and drop the widget state
    (so no page loads a widget manager); in place; returns ``nb``."""
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(VIEW)
            outputs += frozen_outputs(view, nb) if view else [out]
        cell["outputs"] = outputs
    nb.get("metadata", {}).pop("widgets", None)
    return nb
