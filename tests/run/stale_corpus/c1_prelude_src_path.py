"""The prelude puts src/ on sys.path and imports a module from it; a module that one imports
in turn changes."""
CELLS = [
    "import sys\nsys.path.insert(0, 'src')",
    "import features",
    "%%step feat --out v\nv = features.weight() + 1\nopen('v.txt', 'w').write(str(v))",
]
FILES = {"src/features.py": "from consts import W\n\ndef weight():\n    return W\n",
         "src/consts.py": "W = 10\n"}
OBSERVE = ["v.txt"]


def change(folder, nb):
    (folder / "src" / "consts.py").write_text("W = 20\n")
