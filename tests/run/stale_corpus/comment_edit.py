"""A comment added to a step and to the prelude: nothing re-runs (precision)."""
from tests.helpers import replace_cell

CELLS = [
    "import pandas as pd\ndf = pd.read_csv('train.csv')",
    "%%step agg --out total\ntotal = int(df.x.sum())\nopen('total.txt', 'w').write(str(total))\n"
    "open('executed.log', 'a').write('agg\\n')",
]
FILES = {"train.csv": "x\n1\n2\n"}
OBSERVE = ["total.txt"]
PRECISE = True


def change(folder, nb):
    replace_cell(nb, "import pandas", "import pandas as pd  # the data\ndf = pd.read_csv('train.csv')")
    replace_cell(nb, "%%step agg", "%%step agg --out total\n# sum it\ntotal = int(df.x.sum())\n"
                 "open('total.txt', 'w').write(str(total))\nopen('executed.log', 'a').write('agg\\n')")
