"""A project module reads an environment variable when it is imported (in the kernel
template, for forked kernels); the variable changes."""
CELLS = [
    "import settings",
    "%%step thresh --out t\nt = settings.THRESH * 2\nopen('t.txt', 'w').write(str(t))",
]
FILES = {"settings.py": "import os\nTHRESH = int(os.environ.get('THRESH', '1'))\n"}
OBSERVE = ["t.txt"]
ENV = {"THRESH": "1"}


def change(folder, nb):
    ENV["THRESH"] = "4"
