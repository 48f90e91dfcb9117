"""What it costs to call a native loop: how it is called, and how arrays are passed.

nerve's fused loops (``nerve/backend/numpy_backend/native``) receive each array as a
Python object and read its data pointer in C at a fixed offset of the
``PyArrayObject`` (checked once per process against ``ctypes``), and are called
through their packed entry by the ``fastcall`` builtin (ctypes where it does not
build). This script compiles one loop (bias add + ReLU, the commonest fused epilogue)
and times a call on a few sizes, interleaved, best of many repeats:

* ``nerve_wrapper``: the generated wrapper, as a compiled graph calls it (fastcall);
* ``nerve_wrapper_ctypes``: the same wrapper calling the loop through ctypes;
* ``fastcall``: the builtin alone, on prepared ``(ints, objects)``;
* ``py_object``: a ctypes call of the loop, arrays as ``ctypes.py_object``;
* ``ctypes_data``: a ctypes call of the same C body taking pointers as integers,
  ``array.ctypes.data`` per argument;
* ``array_interface``: the same, ``array.__array_interface__["data"][0]`` per argument.

Prints one JSON line per size, with the extra time per call of each alternative.

Usage: ``python benchmarks/bench_native_call.py [--quick]``
"""

from __future__ import annotations

import argparse
import ctypes

import numpy as np
from common import emit, environment_record, interleaved_times

from nerve.backend.numpy_backend import native
from nerve.backend.numpy_backend.native import codegen, fastcall, toolchain
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
    # The loop's own signature: its extent, tile range and row strides, then the arrays.
    params = source.split("void bias_relu(", 1)[1].split(")", 1)[0].split(", ")
    ints = [p.startswith("int64_t") for p in params]
    f_object.argtypes = [ctypes.c_int64 if i else ctypes.py_object for i in ints]
    f_pointer.argtypes = [ctypes.c_int64 if i else ctypes.c_void_p for i in ints]
    f_object.restype = f_pointer.restype = None
    return f_object, f_pointer, ints


def _in_order(ints: tuple, objects: tuple, is_int: list[bool]) -> list:
    """A packed entry's ``(ints, objects)`` as the loop's own arguments."""
    taken, given = iter(ints), iter(objects)
    return [next(taken) if i else next(given) for i in is_int]


def measure(rows: int, cols: int, repeat: int, number: int) -> dict:
    program = _program(rows, cols)
    f_object, f_pointer, is_int = _functions(program)
    x = np.random.default_rng(0).standard_normal((rows, cols)).astype(np.float32)
    b = np.ones(cols, np.float32)
    out = np.empty_like(x)
    (wrapper,) = native.compile_elementwise([program], min_elements=0)
    bind = fastcall.bind
    fastcall.bind = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        (through_ctypes,) = native.compile_elementwise([program], min_elements=0)
    finally:
        fastcall.bind = bind
    ints, objects = wrapper.arguments((x, b), (out,))
    run = fastcall.bind(wrapper.packed, len(ints), len(objects)) or (lambda *args: None)
    by_object = _in_order(ints, objects, is_int)

    def pointers(address):
        return _in_order(ints, [address(a) for a in objects], is_int)

    steps = {
        "nerve_wrapper": lambda: wrapper((x, b), (out,)),
        "nerve_wrapper_ctypes": lambda: through_ctypes((x, b), (out,)),
        "fastcall": lambda: run(ints, objects),
        "py_object": lambda: f_object(*by_object),
        "ctypes_data": lambda: f_pointer(*pointers(lambda a: a.ctypes.data)),
        "array_interface": lambda: f_pointer(*pointers(lambda a: a.__array_interface__["data"][0])),
    }
    f_object(*by_object)
    expected = out.copy()
    for name in ("nerve_wrapper", "nerve_wrapper_ctypes", "fastcall", "ctypes_data"):
        out[...] = np.nan
        steps[name]()
        np.testing.assert_array_equal(out, expected)  # all compute the same
    times = interleaved_times(steps, repeat, number)
    us = {name: round(t * 1e6, 3) for name, t in times.items()}
    return {
        "case": f"native_call_bias_relu_{rows}x{cols}_f32",
        "fastcall": wrapper.fast,
        "us_per_call": us,
        "saved_us_fastcall": round(us["nerve_wrapper_ctypes"] - us["nerve_wrapper"], 3),
        "extra_us_ctypes_data": round(us["ctypes_data"] - us["py_object"], 3),
        "extra_us_array_interface": round(us["array_interface"] - us["py_object"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    repeat, number = (5, 2000) if args.quick else (15, 5000)
    emit(environment_record())
    for rows, cols in ((1, 128), (1, 512), (32, 512), (128, 512)):
        emit(measure(rows, cols, repeat, number))


if __name__ == "__main__":
    main()
