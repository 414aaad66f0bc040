"""A step counts files with `ls` in a subprocess (a native listing); a file is added."""
CELLS = [
    "import subprocess",
    "%%step count --out n\nn = len(subprocess.run(['ls', 'data'], capture_output=True, "
    "text=True).stdout.split())\nopen('n.txt', 'w').write(str(n))",
]
FILES = {"data/a.csv": "1"}
OBSERVE = ["n.txt"]


def change(folder, nb):
    (folder / "data" / "b.csv").write_text("2")
