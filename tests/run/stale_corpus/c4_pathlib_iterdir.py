"""A step lists a folder with Path.iterdir (no --reads); a file is added."""
CELLS = [
    "from pathlib import Path",
    "%%step names --out names\nnames = sorted(p.name for p in Path('data').iterdir())\n"
    "open('names.txt', 'w').write(','.join(names))",
]
FILES = {"data/a.csv": "1"}
OBSERVE = ["names.txt"]


def change(folder, nb):
    (folder / "data" / "b.csv").write_text("2")
