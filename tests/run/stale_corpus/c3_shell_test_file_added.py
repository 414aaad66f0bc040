"""A step asks a shell whether a file exists (`test -e`, a stat in another process); the file
is added."""
CELLS = [
    "%%step probe --out found\nimport subprocess\n"
    "found = subprocess.run(['sh', '-c', 'test -e ready.flag && echo yes || echo no'],\n"
    "                       capture_output=True, text=True, check=True).stdout.strip()\n"
    "open('found.txt', 'w').write(found)",
]
OBSERVE = ["found.txt"]


def change(folder, nb):
    (folder / "ready.flag").write_text("")
