"""A step sums a column with `awk` in a subprocess (the kernel never opens the file); the file
changes."""
CELLS = [
    "import subprocess",
    "%%step total --out total\n"
    "out = subprocess.run(['awk', '{s += $1} END {print s}', 'data.txt'], capture_output=True,"
    " text=True, check=True).stdout\ntotal = int(out)\nopen('total.txt', 'w').write(str(total))",
]
FILES = {"data.txt": "1\n2\n"}
OBSERVE = ["total.txt"]


def change(folder, nb):
    (folder / "data.txt").write_text("1\n2\n40\n")
