"""jupyter_mlpipe inside a kernel: `%%step` in a live kernel (cell.py), the code that runs in
every step kernel to load inputs and save outputs (in_kernel.py) and to log metrics
(tracking.py), what a live kernel holds (kernel_state.py, kernel_notebook.py), and the graph
widget (widget.py).

May import run, pipeline, store and targets; the doors (magic, api, cli, server) import it."""
