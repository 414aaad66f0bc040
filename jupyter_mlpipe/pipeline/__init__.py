"""A notebook read as a pipeline: its `%%step` cells, prelude and parameters (notebook.py,
analysis.py, names.py, parameters.py), loaded with published steps resolved (load.py,
registry.py), and its DAG (graph.py) with the JSON and Graphviz views of it (graph_view.py).

Imports only errors, models and atomic: the store and everything that runs sit above it."""
