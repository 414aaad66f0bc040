"""A step asks pathlib whether a flag file in a folder that does not exist yet is there
(Path.is_file: a stat); the folder and the flag are added."""
CELLS = [
    "%%step mode --out mode\nfrom pathlib import Path\n"
    "mode = 'fast' if Path('flags/fast').is_file() else 'slow'\n"
    "Path('mode.txt').write_text(mode)",
]
OBSERVE = ["mode.txt"]


def change(folder, nb):
    (folder / "flags").mkdir()
    (folder / "flags" / "fast").write_text("")
