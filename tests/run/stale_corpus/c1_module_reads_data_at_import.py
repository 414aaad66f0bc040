"""A project module reads a data file when it is imported (in the kernel template, for forked
kernels); the file changes."""
CELLS = [
    "import lookup",
    "%%step total --out s\ns = sum(lookup.TABLE)\nopen('s.txt', 'w').write(str(s))",
]
FILES = {"lookup.py": "TABLE = [int(x) for x in open('table.txt').read().split()]\n",
         "table.txt": "1 2 3\n"}
OBSERVE = ["s.txt"]


def change(folder, nb):
    (folder / "table.txt").write_text("1 2 3 40\n")
