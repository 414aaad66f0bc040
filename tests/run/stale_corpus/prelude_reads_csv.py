"""The prelude reads a CSV with pandas; the CSV changes (the issue's own example)."""
CELLS = [
    "import pandas as pd\ndf = pd.read_csv('train.csv')",
    "%%step agg --out total\ntotal = int(df.x.sum())\nopen('total.txt', 'w').write(str(total))",
]
FILES = {"train.csv": "x\n1\n2\n"}
OBSERVE = ["total.txt"]


def change(folder, nb):
    (folder / "train.csv").write_text("x\n1\n2\n30\n")
