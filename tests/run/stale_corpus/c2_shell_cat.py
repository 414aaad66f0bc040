"""A step reads a file through IPython's shell escape (`!cat`, as IPython compiles it); the
file changes."""
CELLS = [
    "%%step lines --out n\nout = get_ipython().getoutput('cat data.txt')  # what `!cat` compiles to\nn = len(out)\nopen('n.txt', 'w').write(str(n))",
]
FILES = {"data.txt": "a\nb\n"}
OBSERVE = ["n.txt"]


def change(folder, nb):
    (folder / "data.txt").write_text("a\nb\nc\n")
