"""A step counts the files os.listdir finds (reading none of them); one is removed."""
CELLS = [
    "import os",
    "%%step count --out n\nn = len(os.listdir('data'))\nopen('n.txt', 'w').write(str(n))",
]
FILES = {"data/a.csv": "1", "data/b.csv": "2"}
OBSERVE = ["n.txt"]


def change(folder, nb):
    (folder / "data" / "b.csv").unlink()
