"""The parameters cell says `lr = 0.10` instead of `lr = 0.1`: the same value, nothing
re-runs (precision)."""
PARAMS = "lr = 0.1"
CELLS = [
    "%%step fit --out w\nw = lr * 3\nopen('w.txt', 'w').write(str(w))\n"
    "open('executed.log', 'a').write('fit\\n')",
]
OBSERVE = ["w.txt"]
PRECISE = True


def change(folder, nb):
    from tests.helpers import replace_cell
    replace_cell(nb, "lr = 0.1", "lr = 0.10")
