"""A step reads data/current.csv, a symlink; the link is re-pointed to another file."""
import os

CELLS = [
    "%%step total --out total\ntotal = sum(int(x) for x in open('data/current.csv'))\n"
    "open('total.txt', 'w').write(str(total))",
]
FILES = {"data/v1.csv": "1\n2\n", "data/v2.csv": "1\n2\n80\n"}
OBSERVE = ["total.txt"]


def SETUP(folder, nb):
    os.symlink("v1.csv", folder / "data" / "current.csv")


def change(folder, nb):
    (folder / "data" / "current.csv").unlink()
    os.symlink("v2.csv", folder / "data" / "current.csv")
