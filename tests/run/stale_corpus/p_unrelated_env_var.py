"""An environment variable nobody's code reads changes (the prelude reads another one):
nothing re-runs (precision)."""
CELLS = [
    "import os\nLIMIT = int(os.environ.get('LIMIT', '3'))",
    "%%step cap --out n\nn = min(LIMIT, 100)\nopen('n.txt', 'w').write(str(n))\n"
    "open('executed.log', 'a').write('cap\\n')",
]
OBSERVE = ["n.txt"]
ENV = {"LIMIT": "3", "MLPIPE_T_UNRELATED": "a"}
PRECISE = True


def change(folder, nb):
    ENV["MLPIPE_T_UNRELATED"] = "b"
