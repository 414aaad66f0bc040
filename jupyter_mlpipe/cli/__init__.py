"""`mlpipe`, the command line: main.py parses and dispatches; one module per command group
(history.py: runs, show, cache; jobs.py: sweeps, schedules, published pipelines), with what
they print (printing.py, progress.py) and the parser's "did you mean" (parser.py).

A door: parses and calls the API, run, automation and store; holds no logic the others need."""
