"""A step imports a project module and lists data/; a file added beside the notebook (not in
data/) and a file added in an unrelated folder re-run nothing (precision: the import system's
own listings are not the step's)."""
CELLS = [
    "import helpers",
    "%%step names --out names\nimport glob, json\nnames = helpers.names(glob.glob('data/*'))\n"
    "open('names.txt', 'w').write(json.dumps(names))\nopen('executed.log', 'a').write('names\\n')",
]
FILES = {"data/a.csv": "1", "helpers.py": "def names(paths):\n    return sorted(paths)\n",
         "other/x.txt": "x"}
OBSERVE = ["names.txt"]
PRECISE = True


def change(folder, nb):
    (folder / "notes.txt").write_text("an unrelated file")
    (folder / "other" / "y.txt").write_text("y")
