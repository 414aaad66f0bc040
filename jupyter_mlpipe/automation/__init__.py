"""Runs started by something other than a person at a prompt: parameter sweeps, schedules and
the scheduler loop, data-change triggers, published pipelines, and published steps (modules).

May import run, pipeline, store; the doors (api, cli, server) import it."""
