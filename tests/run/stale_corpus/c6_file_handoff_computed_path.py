"""As c6_file_handoff, with paths the source does not spell out (built at run time): the
manifests of the first run say who writes what the other reads."""
CELLS = [
    "NAME = 'mid'",
    "%%step make\nimport os\ntext = open('train.csv').read().upper()\n"
    "open(os.path.join('work', NAME + '.txt'), 'w').write(text)",
    "%%step use\nimport os\nres = open(os.path.join('work', NAME + '.txt')).read()\n"
    "open('result.txt', 'w').write(res.strip())",
]
FILES = {"train.csv": "abc\n", "work/mid.txt": "abc\n"}
OBSERVE = ["result.txt"]
MODES = ("batch",)


def change(folder, nb):
    (folder / "train.csv").write_text("xyz\n")
