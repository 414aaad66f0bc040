"""A plain cell below a step rebinds a name the step uses: the step sees the value above it,
as Run All does, and editing the cell below changes nothing the step sees."""
CELLS = [
    "x = 1",
    "%%step a --out y\ny = x * 10\nopen('y.txt', 'w').write(str(y))",
    "x = 2",
]
OBSERVE = ["y.txt"]
MODES = ("batch", "spawn")


def change(folder, nb):
    from tests.helpers import replace_cell
    replace_cell(nb, "x = 2", "x = 3")
