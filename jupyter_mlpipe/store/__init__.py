"""Content-addressed artifact store, file digests and run history under `.mlpipe/`."""
