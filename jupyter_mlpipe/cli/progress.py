"""What `mlpipe run` shows while it runs: a line per step state change with steps done / total
and an ETA from the durations in the history (a tqdm bar on a terminal, redrawn every TICK
seconds so its clock moves; states in colour there, unless NO_COLOR), and each executed
step's printed output, read back from its executed notebook."""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .printing import SYMBOL, fmt_time, paint, use_colour
from ..models import FINAL_STATES, StepRun, StepState

TICK = 0.5  # seconds between redraws of the terminal's progress bar
STEP_TAG = "mlpipe-step-body"  # the step's own cell in an executed notebook (executors/base.py)


@dataclass(frozen=True, slots=True)
class OutputMode:
    """How much of each executed step's printed output to show: `lines` last lines (None: all)."""

    lines: int | None

    @classmethod
    def parse(cls, text: str) -> OutputMode:
        if text == "all":
            return cls(None)
        if text == "none":
            return cls(0)
        try:
            n = int(text)
        except ValueError:
            raise ValueError(f"--output takes a number of lines, 'all' or 'none', not {text!r}")
        return cls(max(n, 0))


def step_stdout(notebook: str | None) -> str:
    """What the step's own cell printed (stdout), from its executed notebook; "" if none."""
    if not notebook:
        return ""
    try:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return ""
    text = []
    for c in cells:
        if STEP_TAG in c.get("metadata", {}).get("tags", []):
            for o in c.get("outputs", []):
                if o.get("output_type") == "stream" and o.get("name") == "stdout":
                    t = o.get("text", "")
                    text.append("".join(t) if isinstance(t, list) else t)
    return "".join(text)


def tail(text: str, mode: OutputMode) -> list[str]:
    """The lines to show, with a first line saying how many were left out."""
    lines = text.rstrip("\n").splitlines() if text.strip() else []
    if mode.lines is None or len(lines) <= mode.lines:
        return lines
    if mode.lines == 0:
        return []
    cut = len(lines) - mode.lines
    return [f"... ({cut} earlier line{'s' if cut > 1 else ''}; --output all shows them)",
            *lines[-mode.lines:]]


class Progress:
    """The run's listener: one line per state change, `[k/N]` and an ETA; every 15 s the
    steps still running. On a terminal the lines go above a tqdm bar."""

    def __init__(self, past: dict[str, float], jobs: int, output: OutputMode,
                 stream: TextIO | None = None, heartbeat: float = 15.0):
        self.stream = stream or sys.stdout  # looked up now: tests replace sys.stdout
        self.past, self.jobs, self.output = past, max(jobs, 1), output
        self.t0 = time.time()
        self.running: dict[str, float] = {}
        self._bar = _bar(self.stream)
        self.colour = use_colour(self.stream)
        self._run = None  # the run, once a step reported
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat,), daemon=True)
        self._thread.start()
        if self._bar is not None:  # the bar's clock and ETA move between state changes
            threading.Thread(target=self._tick, args=(TICK,), daemon=True).start()

    def __call__(self, run, s: StepRun) -> None:
        if s.state is StepState.RUNNING:
            self.running[s.name] = time.time()
            detail = "; ".join(s.reasons)
            if s.attempts > 1:  # --retries: the earlier try failed
                detail = f"attempt {s.attempts}/{s.max_attempts} ({s.error})"
        else:
            self.running.pop(s.name, None)
            detail = _detail(s)
        done = sum(1 for x in run.steps.values() if x.state in FINAL_STATES)
        total = len(run.steps)
        self._run = run
        eta = self.eta(run)
        # an ETA is news where a step starts or computed; a reused line took no time
        said = eta and done < total and s.state is not StepState.REUSED
        count = f"{done}/{total}" + (f" ETA {fmt_time(eta)}" if said else "")
        state = str(s.state)
        sym = paint(SYMBOL.get(state, " "), state, self.colour)
        lines = [f"[{time.time() - self.t0:7.1f}s] {sym} {s.name:<24} "
                 f"{paint(f'{state:<9}', state, self.colour)} [{count}] {detail}".rstrip()]
        if s.state in (StepState.SUCCEEDED, StepState.FAILED):
            lines += [f"    | {line}" for line in tail(step_stdout(s.notebook), self.output)]
        self._write(lines, done, total, f"ETA {fmt_time(eta)}" if eta else "")

    def eta(self, run) -> float | None:
        """Seconds left, from each unfinished step's last recorded duration; None when a step
        left has never been timed."""
        now, left = time.time(), 0.0
        for name, s in run.steps.items():
            if s.state in FINAL_STATES:
                continue
            if name not in self.past:
                return None
            left += max(self.past[name] - (now - self.running.get(name, now)), 0.0)
        return left / min(self.jobs, max(len(self.running), 1))

    def _write(self, lines: list[str], done: int, total: int, postfix: str = "") -> None:
        with self._lock:
            if self._bar is None:
                for line in lines:
                    print(line, file=self.stream, flush=True)
                return
            for line in lines:
                self._bar.write(line, file=self.stream)
            if done >= 0:
                self._bar.total, self._bar.n, self._bar.postfix = total, done, postfix
                self._bar.refresh()

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            with self._lock:
                if self._bar is None or self._stop.is_set():
                    return
                if self._run is not None:
                    try:
                        eta = self.eta(self._run)
                    except RuntimeError:  # the run changed meanwhile: next tick
                        eta = None
                    self._bar.postfix = f"ETA {fmt_time(eta)}" if eta else ""
                self._bar.refresh()

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            if self.running:
                now = time.time()
                items = ", ".join(f"{n} ({now - t:.0f}s)" for n, t in self.running.items())
                self._write([f"[{now - self.t0:7.1f}s]   still running: {items}"], -1, -1)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._bar is not None:
                self._bar.close()


def _detail(s: StepRun) -> str:
    if s.state is StepState.REUSED:
        return "; ".join(s.reasons)
    if s.state is StepState.SUCCEEDED:
        took = fmt_time(s.duration)
        return took + (f" (attempt {s.attempts}/{s.max_attempts})" if s.attempts > 1 else "")
    if s.state is StepState.FAILED and s.error:
        # the error's first line only: the whole message is printed once, at the end
        first = s.error.splitlines()[0]
        first = first if len(first) <= 120 else first[:117] + "..."
        return first + (f" (after {s.attempts} attempts)" if s.attempts > 1 else "")
    return ""


def _bar(stream: TextIO):
    """A tqdm bar when `stream` is a terminal, else None (plain lines)."""
    if not stream.isatty():
        return None
    try:
        from tqdm import tqdm  # only on a terminal; papermill depends on it
    except ImportError:
        return None
    # our own ETA (from the history) in the postfix, not tqdm's rate-based one
    return tqdm(total=0, file=stream, unit="step", dynamic_ncols=True, leave=False,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} steps [{elapsed}{postfix}]")
