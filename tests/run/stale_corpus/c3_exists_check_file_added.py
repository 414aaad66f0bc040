"""A step checks whether an optional override file exists (os.path.exists: a stat, no open)
before reading it; it does not exist at first, then it is added."""
CELLS = [
    "%%step limit --out limit\nimport os\n"
    "limit = int(open('override.txt').read()) if os.path.exists('override.txt') else 3\n"
    "open('limit.txt', 'w').write(str(limit))",
]
OBSERVE = ["limit.txt"]


def change(folder, nb):
    (folder / "override.txt").write_text("9")
