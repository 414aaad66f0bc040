"""The `mlpipe` argument parser's errors: an unknown subcommand or option gets a "did you mean"
with the closest known one (argparse < 3.14 suggests nothing)."""
from __future__ import annotations

import argparse
import difflib
import re
from typing import NoReturn


# Commands people guess that live elsewhere: where to find them.
ELSEWHERE = {"sweep": "a sweep is `mlpipe run NOTEBOOK --sweep NAME=V1,V2 [--sweep ...]`",
             "sweeps": "a sweep is `mlpipe run NOTEBOOK --sweep NAME=V1,V2 [--sweep ...]`"}


class SuggestingParser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose usage errors name the closest subcommand or option."""

    def error(self, message: str) -> NoReturn:
        hint = self._suggestion(message)
        super().error(message + hint)

    def _suggestion(self, message: str) -> str:
        choice = re.search(r"invalid choice: '([^']*)'", message)
        if choice and choice.group(1) in ELSEWHERE:
            return f" ({ELSEWHERE[choice.group(1)]})"
        if choice:
            known = [c for a in self._actions if a.choices for c in a.choices]
            return _closest(choice.group(1), known)
        unknown = re.search(r"unrecognized arguments: (.*)", message)
        if unknown:
            options = [o for o in unknown.group(1).split() if o.startswith("-")]
            for typo in options:
                hint = _closest(typo.split("=")[0], sorted(_option_strings(self)))
                if hint:
                    return hint
        return ""


def _closest(typo: str, known: list[str]) -> str:
    match = difflib.get_close_matches(typo, [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """Every option of the parser and its subcommands' parsers."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(s for s in action.option_strings if s.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _option_strings(sub)
    return found
