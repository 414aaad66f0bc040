"""A step sums every data/*.csv it finds with glob (no --reads); a file is added."""
CELLS = [
    "import glob",
    "%%step total --out total\ntotal = sum(int(open(p).read()) for p in glob.glob('data/*.csv'))\n"
    "open('total.txt', 'w').write(str(total))",
]
FILES = {"data/a.csv": "1", "data/b.csv": "2"}
OBSERVE = ["total.txt"]


def change(folder, nb):
    (folder / "data" / "c.csv").write_text("70")
