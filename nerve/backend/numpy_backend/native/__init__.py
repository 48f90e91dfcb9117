"""Native fused elementwise loops for the CPU backend.

A fused program (``nerve.backend.program``) is generated as C (``codegen``),
compiled by the system's C compiler and cached (``toolchain``), and called by a
small generated Python wrapper that allocates the results it is not given: through
the loop's packed entry and ``fastcall``'s builtin (~0.15 us a call), or through
``ctypes`` where that builtin does not build (~2-3.5 us with a dozen arguments).
The design follows tinygrad's CPU backend: a C compiler is on nearly every machine
that runs NumPy, needs no Python package, and vectorizes simple loops well (threads
are opt-in; see ``toolchain``).

Why not NumPy: each ufunc call reads and writes whole arrays, single-threaded,
so a chain of ``k`` ops on ``n`` elements moves ``~3kn`` elements through memory
and pays ``k`` calls; the fused loop reads each input once, writes each result
once and keeps everything else in registers. A call through its wrapper costs
~0.6-0.9 us (a bias-add + relu over 128-512 floats, 2026-12-06, 2-vCPU Xeon:
``benchmarks/bench_native_call.py``; 2.3-3.5 us through ctypes), so only tiny programs
(below ``MIN_ELEMENTS``) stay on NumPy, where a compile (~0.1 s, once per machine)
would not pay.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nerve.backend.numpy_backend.native import (
    binding,
    codegen,
    fastcall,
    split_loops,
    threads,
    toolchain,
)
from nerve.backend.program import ElementwiseProgram

__all__ = [
    "MIN_ELEMENTS",
    "available",
    "compile_elementwise",
]

#: Programs whose iteration space is smaller than this run kernel by kernel...
MIN_ELEMENTS = 128
#: ...except programs of exact steps only (no transcendental: the same bits as NumPy's
#: kernels) where loops are called through ``fastcall``: from this size. Measured
#: 2026-12-06 (2-vCPU Xeon, float32, 1-127 elements): a loop's call 0.8-1.1 us, against
#: 1.0 us for one ufunc call, 2.5 us for two, 4.1 us for an SGD-momentum update's four
#: (through ctypes a loop's call took 2.3-3.5 us, so below 128 it lost). Programs with
#: transcendentals stay at ``MIN_ELEMENTS``: small ones keep NumPy's bits, as eager.
MIN_EXACT_ELEMENTS = 1
#: Work (elements x ``codegen.work_per_element``) from which a call is shared out
#: among the cores a compiled run holds (``threads.held``). A split from C costs about
#: a microsecond (``split_loops``): at 2^20 the SGD-momentum update of a 512x256 kernel
#: (~0.8M, 50-100 us) ran on one core while the other idled. In-process paired rounds
#: against 2^20 (2026-12-06): at 2^19 the batch-32 MLP step with SGD took 7.5% less and
#: the Transformer step of ``bench_sequence`` the same (1.002-1.003); at 2^18 the MLP
#: gained as much but the Transformer, whose 128x128 Adam updates then split too, lost
#: 1-2%.
SPLIT_WORK = 1 << 19
#: "All the tiles" (a call's tile range is clipped to its extent).
ALL_TILES = 1 << 62

_SCALAR_ARG: dict[str, type] = {
    "bool": ctypes.c_int, "uint8": ctypes.c_uint8, "int8": ctypes.c_int8,
    "int16": ctypes.c_int16, "int32": ctypes.c_int32, "int64": ctypes.c_int64,
    "float32": ctypes.c_float, "float64": ctypes.c_double,
}  # fmt: skip


def available() -> bool:
    """Whether native loops can run here (enabled, and a C compiler works)."""
    return toolchain.enabled() and toolchain.compiler() is not None


def compile_elementwise(
    programs: Sequence[ElementwiseProgram], min_elements: int | None = None
) -> list[Callable | None]:
    """One ``fn(inputs, outs) -> results`` per program, or ``None`` where the program
    is too small (and not ``hot``: a loop body's, run at every step), has a step or
    dtype without a C form, or no compiler works."""
    results: list[Callable | None] = [None] * len(programs)
    if not programs or not toolchain.enabled():
        return results
    chosen = {}  # program index -> (function name, layout)
    functions: list[str] = []  # C sources
    for i, program in enumerate(programs):
        if math.prod(program.shape) < _threshold(program, min_elements) and not program.hot:
            continue
        plan = codegen.layout(program)
        if plan is None:
            continue
        name = f"nk{len(functions)}"
        source = codegen.function_source(name, program, plan)
        if source is not None:
            chosen[i] = (name, plan)
            functions.append(source)
    if not functions:
        return results
    library = toolchain.load(codegen.library_source(functions, toolchain.DATA_OFFSET))
    if library is None or not _data_offset_ok(library):
        return results
    for i, (name, plan) in chosen.items():
        packed = binding.entry_address(library, f"{name}_packed")
        results[i] = _wrapper(getattr(library, name), packed, programs[i], plan)
    return results


def _threshold(program: ElementwiseProgram, asked: int | None) -> int:
    """The fewest elements ``program`` compiles from (``asked``, where given)."""
    if asked is not None:
        return asked
    exact = all(step.cost != "transcendental" for step in program.steps)
    return MIN_EXACT_ELEMENTS if exact and fastcall.available() else MIN_ELEMENTS


def _wrapper(function, packed: int, program: ElementwiseProgram, plan: codegen.Layout) -> Callable:
    """A generated Python function that prepares arguments and calls the loop: its
    packed entry (address ``packed``) through ``fastcall``'s builtin where that builds
    here, else ``function`` through ctypes. The function's ``packed`` attribute is the
    entry's address, and its ``arguments`` what the entry would be given."""
    n_in, n_out = len(program.inputs), len(program.results)
    argtypes: list[type] = [ctypes.c_int64] * 4  # the extent, then the tiles to run
    rows, cols = plan.sizes(program.shape)
    # A matrix program over full inputs only can also run row by row, reading an input
    # whose rows are apart (a column block of a wider matrix, such as an RNN's gate from
    # the split of one product) in place instead of copying it first.
    # (A split after the first axis, as results written in blocks need, has rows already.)
    by_rows = len(program.shape) == 2 and set(plan.kinds) <= {"full", "scalar"}
    lines = ["def call(inputs, outs):"]
    lines.append(f"    ({''.join(f'i{k}, ' for k in range(n_in))}) = inputs")
    lines.append(f"    ({''.join(f'o{k}, ' for k in range(n_out))}) = outs")
    lines.append("    strided = False")
    args = []
    shared = codegen.shared_inputs(program, plan)
    for k, ((_, dtype), kind) in enumerate(zip(program.inputs, plan.kinds)):
        if k in shared:
            continue  # the C loop reads the earlier input's argument (the same array)
        if kind == "scalar":
            argtypes.append(_SCALAR_ARG[dtype])
            args.append(f"i{k}.item()")
            continue
        argtypes.append(ctypes.py_object)
        args.append(f"i{k}")
        copy = f"i{k} = ascontiguousarray(i{k})"
        if program.offset(k) is not None:  # (a full input: codegen.layout checks)
            # A column block of a wider matrix, read in place: its rows are that
            # matrix's rows apart (the layout has one row per loop row).
            size = np.dtype(dtype).itemsize
            argtypes.append(ctypes.c_int64)
            args.append(f"l{k}")
            lines += [
                f"    if i{k}.__class__ is not ndarray or i{k}.strides[1] != {size} or "
                f"i{k}.strides[0] % {size}:",
                f"        {copy}",
                f"    l{k} = i{k}.strides[0] // {size}",
            ]
            continue
        lines.append(f"    if i{k}.__class__ is not ndarray or not i{k}.flags.c_contiguous:")
        if kind == "full":
            argtypes.append(ctypes.c_int64)
            args.append(f"l{k}")
            size = np.dtype(dtype).itemsize
            if by_rows:
                lines += [
                    f"        if i{k}.__class__ is ndarray and i{k}.shape == shape and "
                    f"i{k}.strides[1] == {size} and i{k}.strides[0] > 0 and "
                    f"i{k}.strides[0] % {size} == 0:",
                    f"            l{k} = i{k}.strides[0] // {size}",
                    "            strided = True",
                    f"        else: {copy}; l{k} = {program.shape[-1]}",
                    f"    else: l{k} = {program.shape[-1]}",
                ]
            else:
                lines += [f"        {copy}", f"    l{k} = {cols}"]
        else:
            lines.append(f"        {copy}")
    namespace: dict[str, Any] = {"ndarray": np.ndarray, "ascontiguousarray": np.ascontiguousarray}
    namespace["empty"] = np.empty
    namespace["fn"] = function
    namespace["asarray"] = np.asarray
    for k, (_, dtype) in enumerate(program.inputs):
        namespace[f"s{k}"] = np.dtype(dtype)
    for k, dtype in enumerate(program.result_dtypes):
        argtypes.append(ctypes.py_object)
        namespace[f"d{k}"] = np.dtype(dtype)
        namespace[f"shape{k}"] = program.result_shape(k)
        lines.append(
            f"    if o{k} is None or not o{k}.flags.c_contiguous: o{k} = empty(shape{k}, d{k})"
        )
        args.append(f"o{k}")
    namespace["shape"] = tuple(program.shape)
    extent = f"{rows}, {cols}"
    if by_rows and plan.split == 0:
        height, width = program.shape
        extent = f"{height} if strided else {rows}, {width} if strided else {cols}"
    # ``call.arguments``: what the call would pass, for C callers of the loop's packed
    # entry (``codegen._packed_source``): the integers, then the arrays (scalar inputs
    # as their arrays), after the same checks and copies.
    ints = ", ".join(
        [f"({extent})[0], ({extent})[1]", "0", str(ALL_TILES)]
        + [a for a in args if a.startswith("l")]
    )
    objects = ", ".join(a.removesuffix(".item()") for a in args if not a.startswith("l"))
    arguments = [*lines, f"    return ({ints},), ({objects},)"]
    arguments[0] = "def arguments(inputs, outs):"
    work = math.prod(program.shape) * codegen.work_per_element(program)
    lines += _call_lines(namespace, packed, work, args, ints, extent)
    lines.append(f"    return ({''.join(f'o{k}, ' for k in range(n_out))})")
    function.argtypes = argtypes
    function.restype = None
    exec("\n".join(lines), namespace)  # safe: source generated here from the program
    call = namespace["call"]
    call.arguments = _Deferred("\n".join(arguments), namespace, "arguments")
    call.packed = packed
    call.fast = namespace["run"] is not None  # for tests: which way it calls the loop
    return call


def _call_lines(
    namespace: dict, packed: int, work: int, args: list[str], ints: str, extent: str
) -> list[str]:
    """The wrapper's lines that call the loop (the one place that picks how), given its
    ctypes arguments ``args`` (``i<k>`` arrays, ``i<k>.item()`` scalars, ``l<k>`` row
    strides, ``o<k>`` results) and the packed entry's ``ints``; the names they use go
    into ``namespace``."""
    # Its packed entry through the builtin (~0.15-0.3 us a call), else ctypes (2-3.5 us
    # with a dozen arguments).
    n_ints = 4 + sum(a.startswith("l") for a in args)
    n_objects = sum(not a.startswith("l") for a in args)
    run = fastcall.bind(packed, n_ints, n_objects, work) if n_ints <= fastcall.MAX_INTS else None
    namespace["run"] = run
    # The packed entry reads each scalar input's data pointer: one that is not an array
    # of the input's dtype (a Python number; a NumPy scalar, what NumPy's kernels return
    # for 0-d operands: an optimizer's step size) goes as a 0-d array of that dtype,
    # the value the ctypes call's argument gets.
    objects = ", ".join(
        f"({a[:-7]} if {a[:-7]}.__class__ is ndarray and {a[:-7]}.dtype is s{a[1:-7]} "
        f"else asarray({a[:-7]}, s{a[1:-7]}))"
        if a.endswith(".item()")
        else a
        for a in args
        if not a.startswith("l")
    )
    if run is not None:
        direct = f"run(({ints},), ({objects},))"
    else:
        direct = f"fn({extent}, 0, {ALL_TILES}, {', '.join(args)})"
    if work < SPLIT_WORK:
        return [f"    {direct}"]
    # Large enough to pay for waking threads: inside a compiled run that holds the
    # cores (``threads.held``), its tiles are shared out among them: on two cores
    # through the loop's packed entry from C (``split_loops``: no hand-over between
    # Python threads per part; through the builtin too where it builds), else by the
    # Python split.
    namespace["held"], namespace["split"] = threads.held, _split
    namespace["split_packed"], namespace["packed"] = split_loops.run, packed
    namespace["TILE"] = codegen.TILE
    split_run = None if run is None else split_loops.packed_runner(n_ints, n_objects)
    namespace["split_run"] = split_run
    tiles = "e[0] * -(-e[1] // TILE)"
    if split_run is not None:
        on_two = f"    if n == 2: split_run((packed, {tiles}, {n_ints}, {ints}), ({objects},))"
    else:
        on_two = f"    if n == 2 and split_packed(packed, ({ints},), ({objects},), {tiles}): pass"
    return [
        "    n = held()",
        f"    e = ({extent})",
        on_two,
        f"    elif n > 1: split(fn, n, e, ({', '.join(args)},))",
        f"    else: {direct}",
    ]


class _Deferred:
    """A generated function compiled on its first call: a loop's ``arguments`` twin is
    asked for only by C callers of its packed entry (a scan body's loops), so the
    other loops of a graph don't pay its compile (~0.1 ms) at start-up."""

    __slots__ = ("_function", "_name", "_namespace", "_source")

    def __init__(self, source: str, namespace: dict, name: str) -> None:
        self._source, self._namespace, self._name = source, namespace, name
        self._function: Callable | None = None

    def __call__(self, *args: Any) -> Any:
        if self._function is None:
            exec(self._source, self._namespace)  # safe: source generated from the program
            self._function = self._namespace[self._name]
        return self._function(*args)


def _split(function, cores: int, extent: tuple, args: tuple) -> None:
    """Call a fused loop's ``function`` on ``cores`` threads, which share its tiles
    (runs of ``codegen.TILE`` elements of a row) out in parts."""
    rows, cols = extent
    tiles = rows * -(-cols // codegen.TILE)
    threads.run_ranges(tiles, cores, lambda lo, hi: function(rows, cols, lo, hi, *args))


_offset_ok: bool | None = None  # checked on the first library loaded in this process


def _data_offset_ok(library) -> bool:
    """Once per process: kernels find an array's data where ``ctypes`` says it is."""
    global _offset_ok
    if _offset_ok is None:
        _offset_ok = binding.reads_data_pointers(library)
    return _offset_ok
