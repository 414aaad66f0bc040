"""A step switches on whether a flag file exists (os.path.isfile: a stat, never an open); the
flag is there at first, then removed."""
CELLS = [
    "%%step mode --out mode\nimport os\n"
    "mode = 'debug' if os.path.isfile('DEBUG_FLAG') else 'release'\n"
    "open('mode.txt', 'w').write(mode)",
]
FILES = {"DEBUG_FLAG": ""}
OBSERVE = ["mode.txt"]


def change(folder, nb):
    (folder / "DEBUG_FLAG").unlink()
