"""A step checks for its own output folder and file (os.path.exists, os.makedirs) and then
creates them: a path the step itself made is not one it depends on, so a re-run after an
unrelated change executes nothing."""
CELLS = [
    "%%step fit --out n\nimport os\n"
    "fresh = not os.path.exists('out/model/weights.txt')\n"
    "os.makedirs('out/model/parts', exist_ok=True)\n"
    "open('out/model/weights.txt', 'w').write('w')\n"
    "n = 3\nopen('executed.log', 'a').write('fit\\n')",
]
OBSERVE = ["out/model/weights.txt"]
PRECISE = True


def change(folder, nb):
    (folder / "unrelated.txt").write_text("x")
