"""A step reads ../shared/data.csv, outside the notebook's folder; it changes."""
CELLS = [
    "%%step total --out total\ntotal = sum(int(x) for x in open('../shared/data.csv'))\n"
    "open('total.txt', 'w').write(str(total))",
]
OBSERVE = ["total.txt"]


def SETUP(folder, nb):
    (folder.parent / "shared").mkdir(exist_ok=True)
    (folder.parent / "shared" / "data.csv").write_text("1\n2\n")


def change(folder, nb):
    (folder.parent / "shared" / "data.csv").write_text("1\n2\n50\n")
