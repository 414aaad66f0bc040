"""A step writes a file through os.system with a variable the shell expands; the variable
changes."""
CELLS = [
    "%%step dump --out code\nimport os\n"
    "code = os.system('echo $RUN_MODE > mode.txt')",
]
OBSERVE = ["mode.txt"]
ENV = {"RUN_MODE": "train"}


def change(folder, nb):
    ENV["RUN_MODE"] = "eval"
