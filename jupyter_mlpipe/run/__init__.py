"""One run of a pipeline: the cache key (keys.py), what a step really used (manifest.py, recorded by recorder.py;
distributions.py: which installed distribution provides a module), the
reuse plan (plan.py) and the runner that executes the rest (runner.py).

May import pipeline, store, targets, executors and kernels; nothing that calls it (the doors,
automation, interactive)."""
