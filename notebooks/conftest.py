"""`pytest --nbval-lax notebooks/` runs the example notebooks top to bottom in a kernel."""

# targets.ipynb runs steps on a kernel gateway and a Dask cluster that it does not start
# itself; tests/targets/test_example_notebook.py starts both and runs it.
collect_ignore = ["targets.ipynb"]
