"""A project C extension module (as h5py or netCDF4 are) reads a file with fopen(); the file
changes. SETUP compiles it with the system compiler."""
import subprocess
import sysconfig

CELLS = [
    "import freader",
    "%%step first --out total\ntotal = freader.total('data.bin')\n"
    "open('total.txt', 'w').write(str(total))",
]
FILES = {
    "data.bin": b"\x01\x02",
    "freader.c": """
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
static PyObject *total(PyObject *self, PyObject *args) {
    const char *path; long sum = 0; int c;
    if (!PyArg_ParseTuple(args, "s", &path)) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    while ((c = fgetc(f)) != EOF) sum += c;
    fclose(f);
    return PyLong_FromLong(sum);
}
static PyMethodDef methods[] = {{"total", total, METH_VARARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "freader", NULL, -1, methods};
PyMODINIT_FUNC PyInit_freader(void) { return PyModule_Create(&mod); }
""",
}
OBSERVE = ["total.txt"]


def SETUP(folder, nb):
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", f"-I{sysconfig.get_paths()['include']}",
                    "-o", str(folder / f"freader{suffix}"), str(folder / "freader.c")],
                   check=True)


def change(folder, nb):
    (folder / "data.bin").write_bytes(b"\x01\x02\x40")
