"""The resident run daemon: the `mlpipe` console entry (launcher.py) hands a run to a daemon
when one is up (client.py talks to it, with the standard library only); server.py is the
daemon process, which keeps imports and kernel templates warm between runs.

The top layer: the daemon process runs the CLI in forked children."""
