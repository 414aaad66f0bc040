"""A comment added to the file the prelude runs with `%run setup.py`: nothing re-runs."""
CELLS = [
    "%run setup.py",
    "%%step scale --out y\ny = SCALE * 10\nopen('y.txt', 'w').write(str(y))\n"
    "open('executed.log', 'a').write('scale\\n')",
]
FILES = {"setup.py": "SCALE = 2\n"}
OBSERVE = ["y.txt"]
PRECISE = True
MODES = ("batch", "interactive")


def change(folder, nb):
    (folder / "setup.py").write_text("# settings of the experiment\nSCALE = 2  # doubled\n")
