"""Executors run one step each; the runner schedules them (see base.Executor)."""
