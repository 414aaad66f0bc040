"""A shell in a step checks for a lock file (`[ -e ]`, a stat in another process); the lock is
there at first, then removed."""
CELLS = [
    "%%step probe --out locked\nimport subprocess\n"
    "locked = subprocess.run(['sh', '-c', '[ -e run.lock ] && echo locked || echo free'],\n"
    "                        capture_output=True, text=True, check=True).stdout.strip()\n"
    "open('locked.txt', 'w').write(locked)",
]
FILES = {"run.lock": ""}
OBSERVE = ["locked.txt"]


def change(folder, nb):
    (folder / "run.lock").unlink()
