"""The jupyter_mlpipe manual: Sphinx + MyST (myst-nb executes the tutorial's code cells, so its
examples cannot rot). Built by tests/test_docs.py with warnings as errors:
    sphinx-build -W --keep-going -b html docs docs/_build/html
"""
from __future__ import annotations

import jupyter_mlpipe

project = "jupyter_mlpipe"
author = "the jupyter_mlpipe developers"
copyright = "2026, the jupyter_mlpipe developers"
release = version = jupyter_mlpipe.__version__

extensions = ["myst_nb"]
source_suffix = {".md": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "**/.mlpipe"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Only pages written as notebooks (the tutorial) have code cells; they run at every build.
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True

html_theme = "pydata_sphinx_theme"
html_title = "jupyter_mlpipe"
html_static_path: list[str] = []
html_theme_options = {"navigation_with_keys": False}
