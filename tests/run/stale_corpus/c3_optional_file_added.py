"""A step reads an optional override file when it exists (it does not at first); the file is
added."""
CELLS = [
    "%%step limit --out limit\ntry:\n    limit = int(open('override.txt').read())\n"
    "except FileNotFoundError:\n    limit = 3\nopen('limit.txt', 'w').write(str(limit))",
]
OBSERVE = ["limit.txt"]


def change(folder, nb):
    (folder / "override.txt").write_text("9")
