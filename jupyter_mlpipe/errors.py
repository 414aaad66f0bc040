"""One error tree for everything jupyter_mlpipe reports to users.

Every message names the culprit and the fix; execution errors carry the step, the
cell's exception and traceback, and survive pickling across processes.
"""
from __future__ import annotations


def cell_label(index: int) -> str:
    """A cell as JupyterLab numbers it: `index` counts from 0 over all cells (markdown too),
    the label from 1."""
    return f"cell {index + 1}"


class MlpipeError(Exception):
    """Base of every error jupyter_mlpipe raises on purpose."""

    exit_code = 1


class StepDefinitionError(MlpipeError):
    """A notebook does not describe a valid pipeline (bad magic, duplicate name, ...)."""

    exit_code = 2

    def __init__(self, message: str, cell: int | None = None, step: str | None = None):
        self.cell = cell
        self.step = step
        where = []
        if cell is not None:
            where.append(cell_label(cell))
        if step is not None:
            where.append(f"step '{step}'")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)
        self.message = message

    def __reduce__(self):
        return (type(self), (self.message, self.cell, self.step))


class CycleError(StepDefinitionError):
    """The steps' inputs and outputs form a cycle."""

    def __init__(self, cycle: list[str]):
        self.cycle = list(cycle)
        super().__init__(
            "the steps form a cycle: "
            + " -> ".join(self.cycle)
            + ". Break it by removing one of these variables from an --in list, "
            "or by moving the shared computation into its own step."
        )

    def __reduce__(self):
        return (type(self), (self.cycle,))


class MissingInputError(StepDefinitionError):
    """A step declares an input no step produces."""

    def __init__(self, step: str, variable: str, cell: int | None = None, hint: str = ""):
        self.variable = variable
        msg = (
            f"input '{variable}' is not produced by any step. "
            f"Add '--out {variable}' to the step that computes it, or remove it from --in"
        )
        msg += f" ({hint})." if hint else "."
        super().__init__(msg, cell=cell, step=step)
        self._args = (step, variable, cell, hint)

    def __reduce__(self):
        return (type(self), self._args)


class UnknownStepError(MlpipeError):
    """A step name given on the command line or over the API does not exist."""

    exit_code = 2


class NotStoredError(MlpipeError):
    """What a command needs from the store is not there (a step's inputs, any result at all);
    the message names it and the command that makes it."""

    exit_code = 2


class UnsafeFolderError(MlpipeError, PermissionError):
    """A folder jupyter_mlpipe keeps outside the project (kernel sockets, daemon, keys) could be
    read or changed by another user: it is not used."""

    def __init__(self, folder: object, reason: str, strict: bool = True):
        self.folder, self.reason, self.strict = folder, reason, strict
        need = "mode 700" if strict else "not writable by others"
        super().__init__(
            f"{folder} {reason}: jupyter_mlpipe keeps kernel sockets, connection files or keys "
            f"there and uses it only if it is a folder of yours alone ({need}). Another user may "
            f"have created it first. Remove it (`rm -rf {folder}`, as its owner or root) and "
            "run again, or point TMPDIR (XDG_RUNTIME_DIR for the daemon) at a folder of yours.")

    def __reduce__(self):
        return (type(self), (self.folder, self.reason, self.strict))


class InvalidNameError(MlpipeError):
    """A name given by a user (published pipeline or module, version) that cannot be used as a
    file name: refused before it reaches the disk."""

    exit_code = 2


class CacheError(MlpipeError):
    """The artifact store cannot read or write an entry."""


class StoreUnusableError(CacheError):
    """The store folder, its run history or its lock cannot be used as they are (store/health)."""

    exit_code = 2


class ArtifactError(CacheError):
    """A stored artifact that was not loaded; says which one, where, why, and the fix."""

    def __init__(self, digest: str, path: object, reason: str):
        self.digest, self.path, self.reason = digest, path, reason
        super().__init__(self.describe())

    def describe(self) -> str:
        raise NotImplementedError

    def __reduce__(self):  # survives pickling across processes with its fields
        return (type(self), (self.digest, self.path, self.reason))


class DamagedArtifactError(ArtifactError):
    """A stored artifact or file does not match the digest recorded when it was written."""

    def describe(self) -> str:
        return (f"artifact {self.digest[:12]} ({self.path}) is damaged: {self.reason}. It was "
                "not loaded. Re-run the step that produced it: `mlpipe run NOTEBOOK` recomputes "
                "it by itself (a damaged result counts as stale), as does `mlpipe run NOTEBOOK "
                "--force --only PRODUCER`; forcing only the step that reads it does not.")


class UntrustedArtifactError(ArtifactError):
    """A stored artifact is not signed by a trusted key: loading it could run anyone's code."""

    def describe(self) -> str:
        return (f"artifact {self.digest[:12]} ({self.path}) was not loaded: {self.reason}. "
                "Loading a pickle runs code, so only artifacts signed with your key "
                "(MLPIPE_SECRET_FILE, by default in Jupyter's data folder) or a key listed in "
                "MLPIPE_TRUSTED_KEYS or in [store] trusted_keys of mlpipe.toml are loaded. If "
                "you did not put it there, delete it; `mlpipe run NOTEBOOK` recomputes it.")


class UnpicklableOutputError(MlpipeError):
    """An output variable cannot be serialized with cloudpickle."""

    def __init__(self, step: str, variable: str, reason: str):
        self.step, self.variable, self.reason = step, variable, reason
        super().__init__(
            f"step '{step}': output '{variable}' cannot be pickled ({reason}). "
            f"Return something picklable (convert it to data), or drop '{variable}' from --out."
        )

    def __reduce__(self):
        return (type(self), (self.step, self.variable, self.reason))


class InputChangedError(MlpipeError):
    """A step changed an input in place without declaring it as an output."""

    def __init__(self, step: str, variables: list[str]):
        self.step, self.variables = step, list(variables)
        names = ", ".join(f"'{v}'" for v in variables)
        super().__init__(
            f"step '{step}' changed its input {names} in place. Run top to bottom, the steps "
            f"after it would see the changed value; run as a pipeline, they get the stored "
            f"one, so the results would differ. Copy it before changing it (e.g. "
            f"`{variables[0]} = {variables[0]}.copy()`), or declare `--out "
            f"{' '.join(variables)}` so that later steps get the changed value.")

    def __reduce__(self):
        return (type(self), (self.step, self.variables))


class StepExecutionError(MlpipeError):
    """A step failed while executing: carries the cell's own exception and traceback."""

    def __init__(
        self,
        step: str,
        ename: str,
        evalue: str,
        traceback: str = "",
        notebook: str | None = None,
        kernel_died: bool = False,
    ):
        self.step, self.ename, self.evalue = step, ename, evalue
        self.traceback, self.notebook, self.kernel_died = traceback, notebook, kernel_died
        if kernel_died:
            head = f"step '{step}': the kernel died while running it ({evalue})"
        else:
            head = f"step '{step}' failed: {ename}: {evalue}"
        if notebook:
            head += f"\n  executed notebook: {notebook}"
        super().__init__(head)

    def __reduce__(self):
        return (
            type(self),
            (self.step, self.ename, self.evalue, self.traceback, self.notebook, self.kernel_died),
        )


class TargetError(MlpipeError):
    """A compute target is unknown, misconfigured or unreachable."""

    exit_code = 2
