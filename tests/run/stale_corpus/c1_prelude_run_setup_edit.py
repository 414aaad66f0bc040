"""The prelude runs `%run setup.py`; setup.py itself is edited."""
CELLS = [
    "%run setup.py",
    "%%step scale --out y\ny = SCALE * 10\nopen('y.txt', 'w').write(str(y))",
]
FILES = {"setup.py": "SCALE = 2\n"}
OBSERVE = ["y.txt"]
MODES = ("batch", "interactive")


def change(folder, nb):
    (folder / "setup.py").write_text("SCALE = 4\n")
