"""A step's shell command reads an environment variable (`echo $GREETING`: the shell, not
Python, reads it); the variable changes."""
CELLS = [
    "%%step greet --out said\nimport subprocess\n"
    "said = subprocess.run('echo ${GREETING}', shell=True, capture_output=True, text=True,\n"
    "                      check=True).stdout.strip()\n"
    "open('said.txt', 'w').write(said)",
]
OBSERVE = ["said.txt"]
ENV = {"GREETING": "hello"}


def change(folder, nb):
    ENV["GREETING"] = "bye"
