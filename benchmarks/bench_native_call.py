"""What it costs to hand NumPy arrays to a native loop: two ways of passing data pointers.

nerve's fused loops (``nerve/backend/numpy_backend/native``) receive each array as a
``ctypes.py_object`` and read its data pointer in C at a fixed offset of the
``PyArrayObject`` (checked once per process against ``ctypes``). The simpler,
layout-free alternative passes the pointer as an integer (``c_void_p``), which Python
must first ask NumPy for. This script compiles one loop (bias add + ReLU, the
commonest fused epilogue) with the same C body both ways and times a call on a few
sizes, interleaved, best of many repeats:

* ``py_object``: what nerve does;
* ``ctypes_data``: ``array.ctypes.data`` per argument;
* ``array_interface``: ``array.__array_interface__["data"][0]`` per argument.

Prints one JSON line per size, with the extra time per call of each alternative.

Usage: ``python benchmarks/bench_native_call.py [--quick]``
"""

from __future__ import annotations

import argparse
import ctypes

import numpy as np
from common import emit, environment_record, interleaved_times

from nerve.backend.numpy_backend import native
from nerve.backend.numpy_backend.native import codegen, toolchain
from nerve.backend.program import ElementwiseProgram, Step


def _program(rows: int, cols: int) -> ElementwiseProgram:
    shape = (rows, cols)
    return ElementwiseProgram(
        shape,
        ((shape, "float32"), ((cols,), "float32")),
        (Step("add", (0, 1), (), "float32"), Step("relu", (2,), (), "float32")),
        (3,),
    )


def _functions(program: ElementwiseProgram):
    """The loop compiled twice: reading pointers from objects, and taking raw pointers."""
    plan = codegen.layout(program)
    source = codegen.function_source("bias_relu", program, plan)
    by_object = toolchain.load(codegen.library_source([source], toolchain.DATA_OFFSET))
    raw_source = codegen.library_source([source], toolchain.DATA_OFFSET).replace(
        f"#define NV_DATA(o) (*(void* const*)((const char*)(o) + {toolchain.DATA_OFFSET}))",
        "#define NV_DATA(o) ((void*)(o))",
    )
    by_pointer = toolchain.load(raw_source)
    if by_object is None or by_pointer is None:
        raise SystemExit("no working C compiler: nothing to measure")
    f_object, f_pointer = by_object.bias_relu, by_pointer.bias_relu
    f_object.argtypes = [ctypes.c_int64, ctypes.c_int64] + [ctypes.py_object] * 3
    f_pointer.argtypes = [ctypes.c_int64, ctypes.c_int64] + [ctypes.c_void_p] * 3
    f_object.restype = f_pointer.restype = None
    return f_object, f_pointer


def measure(rows: int, cols: int, repeat: int, number: int) -> dict:
    program = _program(rows, cols)
    f_object, f_pointer = _functions(program)
    x = np.random.default_rng(0).standard_normal((rows, cols)).astype(np.float32)
    b = np.ones(cols, np.float32)
    out = np.empty_like(x)
    wrapper = native.compile_elementwise([program], min_elements=0)[0]
    steps = {
        "nerve_wrapper": lambda: wrapper((x, b), (out,)),
        "py_object": lambda: f_object(rows, cols, x, b, out),
        "ctypes_data": lambda: f_pointer(rows, cols, x.ctypes.data, b.ctypes.data, out.ctypes.data),
        "array_interface": lambda: f_pointer(
            rows,
            cols,
            x.__array_interface__["data"][0],
            b.__array_interface__["data"][0],
            out.__array_interface__["data"][0],
        ),
    }
    f_object(rows, cols, x, b, out)
    expected = out.copy()
    f_pointer(rows, cols, x.ctypes.data, b.ctypes.data, out.ctypes.data)
    np.testing.assert_array_equal(out, expected)  # both compute the same
    times = interleaved_times(steps, repeat, number)
    us = {name: round(t * 1e6, 3) for name, t in times.items()}
    return {
        "case": f"native_call_bias_relu_{rows}x{cols}_f32",
        "us_per_call": us,
        "extra_us_ctypes_data": round(us["ctypes_data"] - us["py_object"], 3),
        "extra_us_array_interface": round(us["array_interface"] - us["py_object"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    repeat, number = (5, 2000) if args.quick else (15, 5000)
    emit(environment_record())
    for rows, cols in ((1, 128), (128, 64), (128, 512)):
        emit(measure(rows, cols, repeat, number))


if __name__ == "__main__":
    main()
