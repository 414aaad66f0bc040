"""Local kernels forked from a template process: the template itself (forkserver.py), its
handle (template.py), the jupyter_client provisioner of forked kernels (forked.py), stamps of
what a template imported (stamps.py), templates lent by the run daemon (template_pool.py), and
the read log every kernel is started with (readlog.py, readlog.c: files opened below Python).

Imports nothing of jupyter_mlpipe but targets.config (and pipeline.analysis's list of the
installed folders, inside a function): the template process stays light."""
