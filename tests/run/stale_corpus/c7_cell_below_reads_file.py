"""A plain cell between two steps reads a file; it changes: the step below re-runs, and the
step above must show what a plain run shows (it never saw that cell)."""
CELLS = [
    "base = 1",
    "%%step a --out y\ny = base + 1\nopen('a.txt', 'w').write(str(y))",
    "extra = int(open('extra.txt').read())",
    "%%step b --in y --out z\nz = y + extra\nopen('b.txt', 'w').write(str(z))",
]
FILES = {"extra.txt": "5"}
OBSERVE = ["a.txt", "b.txt"]


def change(folder, nb):
    (folder / "extra.txt").write_text("50")
