"""The benchmark pipelines, each written twice: as a %%step notebook and as one plain notebook
with the same code (what papermill runs for the side-by-side rows)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat


@dataclass(frozen=True, slots=True)
class Bench:
    """A prelude, then steps as (magic line, body) in an order papermill can run top to bottom."""

    name: str
    prelude: str
    steps: tuple[tuple[str, str], ...]
    leaf: str  # the step the leaf-edit row edits

    def mlpipe_notebook(self, folder: Path, leaf_edit: str = "") -> Path:
        cells = [self.prelude] + [
            f"{magic}\n{body}" + (leaf_edit if magic.split()[1] == self.leaf else "")
            for magic, body in self.steps]
        return write_nb(folder / f"{self.name}.ipynb", cells, magic=True)

    def plain_notebook(self, folder: Path) -> Path:
        cells = [self.prelude] + [body for _, body in self.steps]
        return write_nb(folder / f"{self.name}.plain.ipynb", cells, magic=False)


def write_nb(path: Path, cells: list[str], magic: bool = True, params: str = "") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    p = nbformat.v4.new_code_cell(params or "# no parameters")
    p.metadata["tags"] = ["parameters"]
    nb.cells = ([nbformat.v4.new_code_cell("%load_ext jupyter_mlpipe")] if magic else []) + [p]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def chain(n: int = 20) -> Bench:
    """n trivial steps in a chain."""
    steps = [("%%step s0 --out x0", "x0 = 1")] + [
        (f"%%step s{i} --in x{i - 1} --out x{i}", f"x{i} = x{i - 1} + 1") for i in range(1, n)]
    return Bench(f"chain{n}", "import math", tuple(steps), f"s{n - 1}")


def sklearn_fanout() -> Bench:
    """6 steps on a scikit-learn/pandas prelude: data -> split -> 3 models -> compare."""
    prelude = ("import numpy as np\nimport pandas as pd\n"
               "from sklearn.linear_model import LogisticRegression, RidgeClassifier\n"
               "from sklearn.tree import DecisionTreeClassifier\n"
               "from sklearn.model_selection import train_test_split")
    steps = [
        ("%%step data --out df",
         "rng = np.random.default_rng(0)\nX = rng.normal(size=(2000, 8))\n"
         "df = pd.DataFrame(X, columns=[f'f{i}' for i in range(8)])\n"
         "df['y'] = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)"),
        ("%%step split --in df --out Xtr Xte ytr yte",
         "Xtr, Xte, ytr, yte = train_test_split(df.drop(columns='y'), df['y'], random_state=0)"),
        ("%%step logreg --in Xtr Xte ytr yte --out s_lr",
         "s_lr = LogisticRegression(max_iter=500).fit(Xtr, ytr).score(Xte, yte)"),
        ("%%step ridge --in Xtr Xte ytr yte --out s_ridge",
         "s_ridge = RidgeClassifier().fit(Xtr, ytr).score(Xte, yte)"),
        ("%%step tree --in Xtr Xte ytr yte --out s_tree",
         "s_tree = DecisionTreeClassifier(max_depth=5).fit(Xtr, ytr).score(Xte, yte)"),
        ("%%step compare --in s_lr s_ridge s_tree --out best",
         "best = max([('lr', s_lr), ('ridge', s_ridge), ('tree', s_tree)], key=lambda t: t[1])"),
    ]
    return Bench("sklearn_fanout", prelude, tuple(steps), "compare")


def peers() -> Bench:
    """The peers' pipeline: 5 steps of 1 s, load -> (left || right) -> join -> report."""
    steps = [
        ("%%step load --out a", "time.sleep(1)\na = 1"),
        ("%%step left --in a --out b", "time.sleep(1)\nb = a + 1"),
        ("%%step right --in a --out c", "time.sleep(1)\nc = a + 2"),
        ("%%step join --in b c --out d", "time.sleep(1)\nd = b + c"),
        ("%%step report --in d --out e", "time.sleep(1)\ne = d * 2"),
    ]
    return Bench("peers5", "import time", tuple(steps), "report")


def cpu_fanout(n: int, seconds: float) -> Bench:
    """A root, then n independent steps that each burn `seconds` of CPU."""
    body = ("t = time.process_time()\n"
            f"while time.process_time() - t < {seconds}:\n    pass\n")
    steps = [("%%step root --out seed", "seed = 1")] + [
        (f"%%step w{i} --in seed --out r{i}", f"{body}r{i} = seed + {i}") for i in range(n)]
    return Bench(f"cpufan{n}", "import time", tuple(steps), f"w{n - 1}")
