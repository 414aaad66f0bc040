"""Plain notebooks into `%%step` notebooks (converter.py, with cells.py, hoist.py and
dataflow.py), and pipelines out to plain Python scripts (export.py).

May import pipeline only (besides errors and models)."""
