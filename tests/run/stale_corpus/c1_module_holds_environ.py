"""A project module holds `from os import environ` and reads it when the step calls it."""
CELLS = [
    "import cfg",
    "%%step lim --out n\nn = cfg.limit()\nopen('n.txt', 'w').write(str(n))",
]
FILES = {"cfg.py": "from os import environ\n\ndef limit():\n    return int(environ.get('LIMIT', '3'))\n"}
OBSERVE = ["n.txt"]
ENV = {"LIMIT": "3"}


def change(folder, nb):
    ENV["LIMIT"] = "9"
