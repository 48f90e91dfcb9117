"""Calling a loop's packed entry without ctypes' per-call cost.

Every fused loop has a packed entry, ``void <name>_packed(const int64_t *ints, void
*const *objects)`` (``codegen._packed_source``), as do the hand-written loops called
through ``binding.packed_functions`` (``binding.packed_entry_source``; theirs may
return an ``int64_t``, which the builtin returns). ``bind(address, ints, objects)``
gives a builtin function (a ``METH_FASTCALL`` C function, compiled here against ``Python.h``) that
calls it as ``run(ints, objects)``: ``ints`` a tuple of Python ints, converted with
overflow checks (an ``OverflowError`` names the position; nothing is ever wrapped),
``objects`` a tuple whose item array is passed to the entry as it is. The tuples hold
their items, and the caller's frame holds the tuples, for the whole call. Their
lengths must be the entry's, and each object a NumPy array (or ``None`` where the
entry does not read it), else ``TypeError``: a wrong call fails, it never crashes.

Why: a ctypes call converts each argument through its ``argtypes`` and builds a call
frame with libffi; with the 12 arguments of a small fused loop that cost ~2-3.5 us on
the 2-vCPU Xeon (a C function that does nothing; a Python lambda costs ~0.06 us),
against loops of 3-13 us in a batch-32 MLP training step (~25 of them) and a batch-1
forward pass. Through the builtin such a call costs ~0.12-0.15 us, its generated
wrapper ~0.6-0.9 us in all (``benchmarks/bench_native_call.py``, 2026-12-06).

The GIL: the builtin releases it around the entry only for loops whose ``work``
(elements x ``codegen.work_per_element``) reaches ``RELEASE_WORK`` (and for the
hand-written ones, whose length is known only per call), as ctypes' calls released it
for every loop: other Python threads (data loading, ``threads.py``'s
pool) keep running while a long loop runs. A short loop keeps it: releasing costs
little by itself, but when another thread waits for the GIL it takes it, and this
thread waits for it back up to the switch interval (5 ms) after a loop of
microseconds.

The builtin is made by a maker function in the same library, called through
``ctypes.PYFUNCTYPE`` (with the GIL held); the library is built and loaded by
``toolchain.load`` (cached, digest-checked) like every other. Where it cannot be built
(native kernels off, no compiler, no ``Python.h``) ``bind`` answers ``None`` and
loops are called through ctypes (``native._wrapper``).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import sysconfig
from collections.abc import Callable
from typing import Any

import numpy as np

from nerve.backend.numpy_backend.native import toolchain

__all__ = ["MAX_INTS", "RELEASE_WORK", "available", "bind"]

#: Integers an entry may take (the extent, the tile range, one row stride per full
#: input); a loop with more is called through ctypes.
MAX_INTS = 64
#: Work from which a call releases the GIL: ~15-20 us of a loop on the 2-vCPU Xeon (a
#: bias-add + relu over (128, 512), work 2^18, took 9 us, 2026-12-06).
RELEASE_WORK = 1 << 19

_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef void (*nv_packed_fn)(const int64_t *ints, void *const *objects);
typedef int64_t (*nv_packed_int_fn)(const int64_t *ints, void *const *objects);

/* Bound per entry: a capsule holding its address, named by what the call does, its
   context the counts the entry takes: ints << 16 | objects. */
static const char NV_ENTRY[] = "nerve.packed_entry";
static const char NV_ENTRY_FREE[] = "nerve.packed_entry_free";          /* releases the GIL */
static const char NV_ENTRY_INT_FREE[] = "nerve.packed_entry_int_free";  /* and returns int64 */
/* What an object must be (or None, where the entry does not read it): the entry reads
   its data pointer at a fixed offset of the array object. */
static PyTypeObject *nv_array_type = NULL;

static PyObject *nv_packed_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    const char *name = PyCapsule_GetName(self);
    void *entry = PyCapsule_GetPointer(self, name);
    if (entry == NULL) return NULL;
    const intptr_t counts = (intptr_t)PyCapsule_GetContext(self);
    const Py_ssize_t count = counts >> 16, n_objects = counts & 0xffff;
    if (nargs != 2 || !PyTuple_CheckExact(args[0]) || !PyTuple_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "a packed loop call takes two tuples: (ints, objects)");
        return NULL;
    }
    if (PyTuple_GET_SIZE(args[0]) != count || PyTuple_GET_SIZE(args[1]) != n_objects) {
        PyErr_Format(PyExc_TypeError,
                     "this packed loop takes %zd ints and %zd arrays, not %zd and %zd", count,
                     n_objects, PyTuple_GET_SIZE(args[0]), PyTuple_GET_SIZE(args[1]));
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n_objects; i++) {
        PyObject *item = PyTuple_GET_ITEM(args[1], i);
        if (item != Py_None && !PyObject_TypeCheck(item, nv_array_type)) {
            PyErr_Format(PyExc_TypeError,
                         "array %zd of a packed loop call is a %.200s, not a NumPy array",
                         i, Py_TYPE(item)->tp_name);
            return NULL;
        }
    }
    int64_t ints[NV_MAX_INTS];
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyTuple_GET_ITEM(args[0], i);
        int overflow = 0;
        long long value = PyLong_AsLongLongAndOverflow(item, &overflow);
        if (overflow) {
            PyErr_Format(PyExc_OverflowError,
                         "int %zd of a packed loop call (%R) does not fit in int64", i, item);
            return NULL;
        }
        if (value == -1 && PyErr_Occurred()) return NULL;
        ints[i] = (int64_t)value;
    }
    void *const *objects = (void *const *)&PyTuple_GET_ITEM(args[1], 0);
    if (name == NV_ENTRY_INT_FREE) {
        int64_t result;
        Py_BEGIN_ALLOW_THREADS
        result = ((nv_packed_int_fn)entry)(ints, objects);
        Py_END_ALLOW_THREADS
        return PyLong_FromLongLong((long long)result);
    }
    if (name == NV_ENTRY_FREE) {
        Py_BEGIN_ALLOW_THREADS
        ((nv_packed_fn)entry)(ints, objects);
        Py_END_ALLOW_THREADS
    } else {
        ((nv_packed_fn)entry)(ints, objects);
    }
    Py_RETURN_NONE;
}

static PyMethodDef nv_packed_def = {
    "packed_call", (PyCFunction)(void (*)(void))nv_packed_call, METH_FASTCALL,
    "run(ints, objects): call a fused loop's packed entry (nerve.backend.numpy_backend."
    "native.fastcall)."};

/* The builtin that calls the entry at ``address``, taking ``ints`` ints and
   ``objects`` arrays of type ``array_type``; ``release``: release the GIL; ``returns``:
   the entry returns an int64 (the GIL is then always released). */
PyObject *nv_bind(void *address, int release, int returns, int64_t ints, int64_t objects,
                  PyObject *array_type) {
    if (ints < 0 || ints > NV_MAX_INTS || objects < 0 || objects > 0xffff) {
        PyErr_Format(PyExc_ValueError, "a packed loop takes 0-%d ints and 0-65535 arrays",
                     NV_MAX_INTS);
        return NULL;
    }
    if (!PyType_Check(array_type)) {
        PyErr_SetString(PyExc_TypeError, "the array type must be a type");
        return NULL;
    }
    if (nv_array_type == NULL) {
        Py_INCREF(array_type);  /* kept for the process, as the library is */
        nv_array_type = (PyTypeObject *)array_type;
    } else if ((PyObject *)nv_array_type != array_type) {
        PyErr_SetString(PyExc_ValueError, "one array type per process");
        return NULL;
    }
    const char *name = returns ? NV_ENTRY_INT_FREE : release ? NV_ENTRY_FREE : NV_ENTRY;
    PyObject *capsule = PyCapsule_New(address, name, NULL);
    if (capsule == NULL) return NULL;
    if (PyCapsule_SetContext(capsule, (void *)(intptr_t)(ints << 16 | objects)) != 0) {
        Py_DECREF(capsule);
        return NULL;
    }
    PyObject *bound = PyCFunction_New(&nv_packed_def, capsule);
    Py_DECREF(capsule);
    return bound;
}
"""


def _include_dirs() -> tuple[str, ...] | None:
    """Python's header folders, or ``None`` where ``Python.h`` is not installed (a
    Python without its development files: then silently no builtin)."""
    paths = sysconfig.get_paths()
    folders = tuple(dict.fromkeys(paths[k] for k in ("include", "platinclude") if k in paths))
    if not folders or not os.path.isfile(os.path.join(folders[0], "Python.h")):
        return None
    return folders


def source() -> str:
    """The C of the builtin, naming the Python it is built for (part of its cache key:
    the object layouts it reads are this Python's)."""
    built_for = f"{sys.implementation.cache_tag} {sys.version} {sys.abiflags}"
    return f"/* Built for {' '.join(built_for.split())} */\n#define NV_MAX_INTS {MAX_INTS}\n" + (
        _SOURCE
    )


@functools.cache
def _maker() -> Callable | None:
    """``nv_bind`` of the loaded library, called with the GIL held, or ``None``."""
    if sys.implementation.name != "cpython":
        return None
    folders = _include_dirs()
    if folders is None:
        return None
    library = toolchain.load(source(), folders)
    if library is None:
        return None
    maker = ctypes.PYFUNCTYPE(
        ctypes.py_object,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int64,
        ctypes.c_int64,
        ctypes.py_object,
    )
    return maker(("nv_bind", library))


def available() -> bool:
    """Whether ``bind`` gives builtins here (else loops are called through ctypes)."""
    return toolchain.enabled() and _maker() is not None


def bind(
    address: int, ints: int, objects: int, work: int = 0, returns: bool = False
) -> Callable[[tuple, tuple], Any] | None:
    """``run(ints, objects)``: calls the packed entry at ``address`` (a loop's, see the
    module docstring), which takes ``ints`` ints (at most ``MAX_INTS``) and ``objects``
    NumPy arrays (``None`` where the entry does not read one): a call given other
    counts or other objects raises ``TypeError``, never reaches the entry. It releases
    the GIL when ``work >= RELEASE_WORK``; with ``returns``, the entry is ``int64_t
    entry(ints, objects)`` and ``run`` returns its result (always releasing the GIL),
    else ``run`` returns ``None``. ``None`` where the builtin cannot be built here.

    >>> import numpy as np
    >>> from nerve.backend.numpy_backend import native
    >>> from nerve.backend.program import ElementwiseProgram, Step
    >>> program = ElementwiseProgram(((4,)), (((4,), "float64"),),
    ...                              (Step("neg", (0,), (), "float64"),), (1,))
    >>> (loop,) = native.compile_elementwise([program], min_elements=0)
    >>> x, y = np.arange(4.0), np.zeros(4)
    >>> ints, objects = (), ()
    >>> if loop is not None: ints, objects = loop.arguments((x,), (y,))
    >>> run = None if loop is None else bind(loop.packed, len(ints), len(objects))
    >>> if run is not None: run(ints, objects)
    >>> run is None or y.tolist() == [-0.0, -1.0, -2.0, -3.0]
    True
    """
    maker = _maker() if toolchain.enabled() else None
    if maker is None:
        return None
    release = int(work >= RELEASE_WORK)
    return maker(address, release, int(returns), ints, objects, np.ndarray)
