"""A step counts rows of a SQLite database (sqlite3 reads it in C); a row is added."""
import sqlite3

CELLS = [
    "import sqlite3",
    "%%step count --out n\nn = sqlite3.connect('data.db').execute('select count(*) from t')"
    ".fetchone()[0]\nopen('n.txt', 'w').write(str(n))",
]
OBSERVE = ["n.txt"]


def SETUP(folder, nb):
    with sqlite3.connect(folder / "data.db") as db:
        db.execute("create table t (x)")
        db.executemany("insert into t values (?)", [(1,), (2,)])
    db.close()


def change(folder, nb):
    with sqlite3.connect(folder / "data.db") as db:
        db.execute("insert into t values (3)")
    db.close()
