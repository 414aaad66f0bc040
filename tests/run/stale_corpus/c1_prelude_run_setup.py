"""The prelude runs `%run setup.py`, which reads a JSON config; the config changes."""
CELLS = [
    "%run setup.py",
    "%%step scale --out y\ny = CONFIG['scale'] * 10\nopen('y.txt', 'w').write(str(y))",
]
FILES = {"setup.py": "import json\nCONFIG = json.load(open('config.json'))\n",
         "config.json": '{"scale": 2}'}
OBSERVE = ["y.txt"]


def change(folder, nb):
    (folder / "config.json").write_text('{"scale": 7}')
