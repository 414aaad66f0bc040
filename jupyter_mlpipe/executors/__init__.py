"""Executors run the steps of one compute target each; the runner schedules them.

base.py (the interface), registry.py (kinds by name, entry-point group
`jupyter_mlpipe.executors`, check_targets), routing.py (one executor per target, retries),
kernels.py (local kernels; base of local.py and gpu.py), gateway.py with gateway_client.py and
remote_helper.py, dask.py; notebooks.py and papermill.py are what they share; engine.py is
the papermill engine.
"""
