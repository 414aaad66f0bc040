"""A comment and blank lines added to a module the prelude imports from src/ (on sys.path),
and to the prelude cell that puts it there: nothing re-runs (precision)."""
CELLS = [
    "import sys\nsys.path.insert(0, 'src')\nimport features",
    "%%step feat --out v\nv = features.weight() + 1\nopen('v.txt', 'w').write(str(v))\n"
    "open('executed.log', 'a').write('feat\\n')",
]
FILES = {"src/features.py": "from consts import W\n\ndef weight():\n    return W\n",
         "src/consts.py": "W = 10\n"}
OBSERVE = ["v.txt"]
PRECISE = True


def change(folder, nb):
    from tests.helpers import replace_cell
    (folder / "src" / "consts.py").write_text("# the weight\n\nW = 10  # tuned\n")
    (folder / "src" / "features.py").write_text(
        "from consts import W\n\n\ndef weight():\n    # as configured\n    return W\n")
    replace_cell(nb, "import sys", "import sys\n\nsys.path.insert(0, 'src')  # our code\n"
                 "import features")
