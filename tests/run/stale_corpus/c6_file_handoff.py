"""A step writes a file without --writes; a step below reads it. The input changes: the
step below must see the rewritten file, as a plain run does (decided once the writer is done)."""
CELLS = [
    "%%step make\ntext = open('train.csv').read().upper()\nopen('mid.txt', 'w').write(text)",
    "%%step use\nres = open('mid.txt').read()\nopen('result.txt', 'w').write(res.strip())",
]
FILES = {"train.csv": "abc\n"}
OBSERVE = ["result.txt"]
MODES = ("batch", "spawn")


def change(folder, nb):
    (folder / "train.csv").write_text("xyz\n")
