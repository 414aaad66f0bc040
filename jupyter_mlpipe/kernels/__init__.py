"""Local kernels forked from a template process: the template itself (forkserver.py), its
handle (template.py), the jupyter_client provisioner of forked kernels (forked.py), stamps of
what a template imported (stamps.py), and templates lent by the run daemon (template_pool.py).

Imports nothing of jupyter_mlpipe but targets.config: the template process stays light."""
