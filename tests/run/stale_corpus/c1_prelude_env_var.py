"""The prelude reads an environment variable; its value changes between runs."""
CELLS = [
    "import os\nLIMIT = int(os.environ.get('LIMIT', '3'))",
    "%%step cap --out n\nn = min(LIMIT, 100)\nopen('n.txt', 'w').write(str(n))",
]
OBSERVE = ["n.txt"]
ENV = {"LIMIT": "3"}


def change(folder, nb):
    ENV["LIMIT"] = "5"
