"""The pipeline graph as pictures are drawn from it: the JSON the panel and the notebook widget
lay out in the browser (one renderer, labextension/src/graph.ts), and the static picture
rendered by Graphviz through the `graphviz` package (CLI files, SVG kept in saved notebooks)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import graphviz

from ..errors import MlpipeError

# the panel's colours (labextension/style/graph.css), for pictures drawn without the browser
COLORS = {"cached": "#b7e4c7", "reused": "#52b788", "succeeded": "#52b788", "stale": "#ffe8a3",
          "running": "#90caf9", "failed": "#ef9a9a", "skipped": "#e0e0e0", "pending": "#ffffff",
          "cancelled": "#d1c4e9", "invalid": "#ffffff"}
INSTALL_GRAPHVIZ = ("Graphviz's `dot` program is not installed, and the `graphviz` Python package "
                    "needs it to render. Install it: Debian/Ubuntu `apt-get install graphviz`, "
                    "macOS `brew install graphviz`, conda `conda install graphviz`, Windows "
                    "`winget install graphviz` (then put its bin/ folder on PATH).")


def json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


def parameter_types(spec: Any) -> dict[str, str]:
    """Each parameter's Python type ("int", "float", "bool", "str", ...; "expression" for a
    default that is not a literal): JSON writes 1.0 as 1, and the form must not take C = 1.0
    for a whole number."""
    return {name: "expression" if name in spec.parameter_expressions else type(v).__name__
            for name, v in spec.parameters.items()}


def graph_json(pipe: Any, broken: dict[str, str] | None = None) -> dict[str, Any]:
    """Steps (status, why, will/may re-run) and edges of a Pipeline; `broken` maps the steps
    whose cell cannot be read to their message (drawn `invalid`)."""
    broken = broken or {}
    g = pipe.graph
    status = {s.name: s for s in pipe.status()}
    steps = []
    for spec in pipe.steps:
        st, error = status[spec.name], broken.get(spec.name)
        steps.append({"name": spec.name, "cell": spec.cell, "cell_id": spec.cell_id,
                      "inputs": list(spec.inputs), "outputs": list(spec.outputs),
                      "reads": list(spec.reads), "writes": list(spec.writes),
                      "target": spec.target, "upstream": g.upstream[spec.name],
                      "status": "invalid" if error else str(st.state),
                      "reasons": [error] if error else list(st.reasons),
                      "certain": True if error else st.certain,
                      "verdict": "invalid" if error else st.verdict, "error": error,
                      "computed_at": st.computed_at, "duration": st.duration,
                      "key": None if error else st.key})
    edges = [{"source": u, "target": n, "label": var}
             for n in g.names for var, u in {**g.producer[n], **g.file_producer[n]}.items()]
    return {"steps": steps, "edges": edges, "order": g.order,
            "parameters": json_safe(pipe.parameters),
            "parameter_types": parameter_types(pipe.spec),
            "warnings": list(pipe.spec.warnings),
            "errors": [broken[n] for n in broken if n not in status]
            + [broken[n] for n in broken if n in status]}


def to_graphviz(graph: Any, states: dict[str, str] | None = None) -> graphviz.Digraph:
    """A Digraph of `graph` (graph.Graph), each node filled by its state when `states` is
    given; nodes in cell order, edges labelled with the variable or file they carry."""
    dot = graphviz.Digraph("pipeline", graph_attr={"rankdir": "TB"},
                           node_attr={"shape": "box", "style": "rounded,filled",
                                      "fontname": "Helvetica", "fontsize": "11"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "9",
                                      "color": "#888888"})
    for n in graph.names:
        state = (states or {}).get(n)
        dot.node(n, f"{n}\n({state})" if state else n,
                 fillcolor=COLORS.get(state or "pending", "#ffffff"),
                 style="rounded,filled,dashed" if state == "invalid" else "rounded,filled")
    for n in graph.names:
        for var, u in {**graph.producer[n], **graph.file_producer[n]}.items():
            dot.edge(u, n, label=var)
    return dot


def svg(dot: graphviz.Digraph) -> str:
    """The SVG Graphviz draws for `dot`; MlpipeError saying how to install it when missing."""
    try:
        return dot.pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        raise MlpipeError(INSTALL_GRAPHVIZ) from None


def write(dot: graphviz.Digraph, dest: Path) -> None:
    """`dest` as .dot/.gv (no Graphviz needed) or any format Graphviz renders (.svg, .png, ...)."""
    fmt = dest.suffix.lstrip(".").lower()
    if fmt in ("dot", "gv"):
        dest.write_text(dot.source)
        return
    try:
        dest.write_bytes(dot.pipe(format=fmt))
    except graphviz.ExecutableNotFound:
        raise MlpipeError(f"writing {dest.name}: {INSTALL_GRAPHVIZ} Or write DOT with "
                          "`-o pipeline.dot`.") from None
    except ValueError as exc:  # an unknown format
        raise MlpipeError(f"cannot write {dest.name}: {exc}") from None
