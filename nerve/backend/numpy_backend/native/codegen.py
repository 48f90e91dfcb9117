"""C source for fused elementwise programs (``nerve.backend.program``).

One program becomes one C function that walks its iteration space once, in tiles
of ``TILE`` elements: per tile it runs the program's *segments* (``_segments``) as
consecutive loops that the compiler vectorizes, each reading the input elements
it needs and keeping its steps in registers; values crossing segments live in
L1-sized scratch arrays. No intermediate array is ever materialized. With
``NERVE_NATIVE_THREADS=1`` (see ``toolchain``) tiles are split across cores by
OpenMP when the work is large enough.

**Layout.** Inputs broadcast to the iteration shape. The shape is split at one
axis into ``rows x cols`` so that every input is one of:

* ``full`` — has the whole shape: element ``r * cols + c``;
* ``row`` — has only the trailing axes (a bias): element ``c``;
* ``col`` — has only the leading axes (a per-example value, ``(n, 1)``): element ``r``;
* ``scalar`` — one element: passed by value.

A split where every input fits one kind is searched from the outermost axis;
programs with no such split (an input broadcast along a middle axis only) are
not compiled and run kernel by kernel. Kernels are generic in the sizes, so one
library serves every batch size.

**Aliasing.** A result may be written into the buffer of a ``full`` input (the
memory plan reuses dying buffers). Each iteration loads all its inputs before it
stores, and elements never depend on other elements, so that is safe;
``ivdep`` tells the compiler so (it may not assume the pointers are distinct).

**Semantics** follow NumPy's kernels: IEEE specials (``-ffast-math`` is off,
``maximum``/``minimum`` propagate NaN), two roundings for ``a * b + c``, wrapping
integer overflow. Transcendentals come from ``vmath.h`` (within a few ULP of
NumPy's own), so compiled graphs agree with eager mode to float tolerance,
not bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nerve.backend.program import ElementwiseProgram

__all__ = [
    "COSTS",
    "C_TYPES",
    "DIVISION_COST",
    "EXPRESSIONS",
    "FLOATS",
    "INTEGERS",
    "NUMBERS",
    "PARALLEL_WORK",
    "SEGMENT_COST",
    "STORAGE",
    "TILE",
    "TRANSCENDENTAL_COST",
    "Layout",
    "expression",
    "function_source",
    "has_loop_form",
    "layout",
    "library_source",
    "shared_inputs",
]

#: nerve dtype -> C type of a loaded element (bool is stored as one byte, 0 or 1).
C_TYPES = {
    "bool": "int32_t", "uint8": "uint8_t", "int8": "int8_t", "int16": "int16_t",
    "int32": "int32_t", "int64": "int64_t", "float32": "float", "float64": "double",
}  # fmt: skip
STORAGE = {**C_TYPES, "bool": "uint8_t"}
FLOATS = ("float32", "float64")
INTEGERS = ("uint8", "int8", "int16", "int32", "int64")
NUMBERS = FLOATS + INTEGERS

#: Rough per-element cost of a step, in units of one vectorized add; decides
#: whether a loop is worth splitting across threads.
TRANSCENDENTAL_COST = 12
DIVISION_COST = 4
#: Work (elements x cost) above which a loop runs on every core.
PARALLEL_WORK = 1 << 16
#: Elements of one row per tile: the unit of work (and of threads, when on); values
#: passed between a tile's loops live in scratch arrays of this length.
TILE = 512
#: Most cost one loop body may hold before the program is cut into another loop over
#: the same tile (see _segments: a second transcendental cuts too).
SEGMENT_COST = 64


def _float_call(name: str) -> Callable:
    """A vmath.h function: ``nv_expf`` for float32, ``nv_exp`` for float64."""

    def emit(args, dtypes, dtype, params):
        if dtype not in FLOATS:
            return None
        return f"nv_{name}{'f' if dtype == 'float32' else ''}({args[0]})"

    return emit


def _libm(name: str) -> Callable:
    """A libm function the compiler inlines as one instruction (sqrt, floor, ...)."""

    def emit(args, dtypes, dtype, params):
        if dtype not in FLOATS:
            return None
        return f"{name}{'f' if dtype == 'float32' else ''}({args[0]})"

    return emit


def _infix(op: str, kinds: tuple = NUMBERS) -> Callable:
    def emit(args, dtypes, dtype, params):
        if dtypes[0] not in kinds:
            return None
        return f"({args[0]} {op} {args[1]})"

    return emit


def _numeric(template: str, kinds: tuple = NUMBERS) -> Callable:
    def emit(args, dtypes, dtype, params):
        if any(d not in kinds for d in dtypes):
            return None
        return template.format(*args, T=C_TYPES[dtype])

    return emit


def _cast(args, dtypes, dtype, params):
    if params.get("dtype", dtype) != dtype or dtypes[0] not in C_TYPES:
        return None
    if dtype == "bool":
        return f"({args[0]} != 0)"
    return f"(({C_TYPES[dtype]}){args[0]})"


def _abs(args, dtypes, dtype, params):
    if dtype in FLOATS:
        return f"fabs{'f' if dtype == 'float32' else ''}({args[0]})"
    if dtype in INTEGERS:
        return f"({args[0]} < 0 ? ({C_TYPES[dtype]})-{args[0]} : {args[0]})"
    return None


def _sign(args, dtypes, dtype, params):
    a, t = args[0], C_TYPES.get(dtype)
    if dtype in FLOATS:  # 0, -0 and NaN are their own sign, as in NumPy
        return f"({a} > 0 ? ({t})1 : ({a} < 0 ? ({t})-1 : {a}))"
    if dtype in INTEGERS:
        return f"(({t})(({a} > 0) - ({a} < 0)))"
    return None


def _bitwise(op: str) -> Callable:
    return _numeric(f"(({{T}})({{0}} {op} {{1}}))", (*INTEGERS, "bool"))


def _bitwise_not(args, dtypes, dtype, params):
    if dtype == "bool":
        return f"(!{args[0]})"  # NumPy's invert of a bool is logical not
    if dtype in INTEGERS:
        return f"(({C_TYPES[dtype]})~{args[0]})"
    return None


def _declined(reason: str) -> Callable:
    """The entry of an elementwise kernel this backend leaves to NumPy, with the reason;
    the fusion pass then keeps such steps out of loops."""

    def emit(args, dtypes, dtype, params):
        return None

    emit.reason = reason  # type: ignore[attr-defined]
    return emit


_NO_SIMD = "no vectorized form in vmath.h: NumPy's SIMD kernel beats a libm call per element"
_LIBM_ONLY = (
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh",
    "arctanh", "erf", "erfc", "erfinv", "power", "arctan2",
)  # fmt: skip
_SHIFTS = "NumPy defines shifts by the bit width or more; C leaves them undefined"

#: Kernel name -> emitter(args, input dtypes, result dtype, params) -> C expression, or
#: None when the dtypes are ones this table doesn't handle. Every elementwise
#: primitive's kernel has an entry (``tests/backend/test_native.py`` checks), declined
#: ones with the reason.
EXPRESSIONS: dict[str, Callable] = {
    "add": _infix("+"),
    "subtract": _infix("-"),
    "multiply": _infix("*"),
    "divide": _infix("/", FLOATS),
    "neg": _numeric("(({T})-{0})"),
    "abs": _abs,
    "sign": _sign,
    "reciprocal": _numeric("(({T})1 / {0})", FLOATS),
    "sqrt": _libm("sqrt"),
    "rsqrt": lambda args, dtypes, dtype, params: (
        f"(({C_TYPES[dtype]})1 / {_libm('sqrt')(args, dtypes, dtype, params)})"
        if dtype in FLOATS
        else None
    ),
    "floor": _libm("floor"),
    "ceil": _libm("ceil"),
    "round": _libm("nearbyint"),  # round half to even, like NumPy
    "exp": _float_call("exp"),
    "expm1": _float_call("expm1"),
    "log": _float_call("log"),
    "log1p": _float_call("log1p"),
    "tanh": _float_call("tanh"),
    "sigmoid": _float_call("sigmoid"),
    # NumPy's maximum(x, 0): NaN propagates.
    "relu": _numeric("(({0}) > 0 || ({0}) != ({0}) ? ({0}) : ({T})0)"),
    "maximum": _numeric("(({0}) >= ({1}) || ({0}) != ({0}) ? ({0}) : ({1}))"),
    "minimum": _numeric("(({0}) <= ({1}) || ({0}) != ({0}) ? ({0}) : ({1}))"),
    "equal": _infix("=="),
    "not_equal": _infix("!="),
    "less": _infix("<"),
    "less_equal": _infix("<="),
    "greater": _infix(">"),
    "greater_equal": _infix(">="),
    "isnan": _numeric("({0} != {0})", FLOATS),
    "isinf": _numeric("(({0} - {0}) != ({0} - {0}) && {0} == {0})", FLOATS),
    "isfinite": _numeric("(({0} - {0}) == ({0} - {0}))", FLOATS),
    "signbit": _numeric("(signbit({0}) != 0)", FLOATS),
    "logical_not": _numeric("(!{0})", ("bool",)),
    "logical_and": _numeric("({0} && {1})", ("bool",)),
    "logical_or": _numeric("({0} || {1})", ("bool",)),
    "logical_xor": _numeric("({0} != {1})", ("bool",)),
    "bitwise_and": _bitwise("&"),
    "bitwise_or": _bitwise("|"),
    "bitwise_xor": _bitwise("^"),
    "bitwise_not": _bitwise_not,
    "where": lambda args, dtypes, dtype, params: (
        f"({args[0]} ? {args[1]} : {args[2]})" if dtypes[0] == "bool" else None
    ),
    "cast": _cast,
    **{name: _declined(_NO_SIMD) for name in _LIBM_ONLY},
    "floor_divide": _declined(
        "NumPy's floor division defines results C's '/' does not (signs, zero divisors, inf)"
    ),
    "mod": _declined("NumPy's modulo takes the divisor's sign and defines x % 0; C's does not"),
    "left_shift": _declined(_SHIFTS),
    "right_shift": _declined(_SHIFTS),
    "nextafter": _declined("rare outside numerics tests; libm's call per element gains nothing"),
    "i0": _declined("Bessel functions have no form in vmath.h; SciPy's kernel runs them"),
    "i1": _declined("Bessel functions have no form in vmath.h; SciPy's kernel runs them"),
    **{
        name: _declined("complex values have no C type in these loops")
        for name in ("real", "imag", "conj", "complex")
    },
}
#: Per-element cost of a step by the primitive's cost class (``Primitive.cost``), in
#: units of one vectorized add; decides where loops are cut and whether to use threads.
COSTS = {"arithmetic": 1, "division": DIVISION_COST, "transcendental": TRANSCENDENTAL_COST}


def expression(kernel: str, args: list[str], dtypes: tuple, dtype: str, params: dict) -> str | None:
    """The C expression of one step, or ``None`` where this table has no loop form."""
    if dtype not in C_TYPES or any(d not in C_TYPES for d in dtypes):
        return None
    emit = EXPRESSIONS.get(kernel)
    return None if emit is None else emit(args, dtypes, dtype, params)


def has_loop_form(kernel: str, input_dtypes: tuple, dtype: str, params: dict) -> bool:
    """Whether ``expression`` gives a step of ``kernel`` a C form (for the fusion pass)."""
    args = [f"x{k}" for k in range(len(input_dtypes))]
    return expression(kernel, args, input_dtypes, dtype, params) is not None


@dataclass(frozen=True)
class Layout:
    """How a program's iteration shape splits into rows x cols; one kind per input."""

    split: int
    kinds: tuple[str, ...]

    def sizes(self, shape: tuple) -> tuple[int, int]:
        rows = 1
        for d in shape[: self.split]:
            rows *= d
        cols = 1
        for d in shape[self.split :]:
            cols *= d
        return rows, cols


def shared_inputs(program: ElementwiseProgram, plan: Layout) -> dict[int, int]:
    """``{k: j}``: input ``k`` is the same array as the earlier input ``j``, read with the
    same kind, so the loop takes it once (as ``j``'s argument). A call through ctypes
    pays for each argument (~0.15 us): an LSTM step's gate loop reads the input
    projection and the recurrent product as four column blocks each, 8 arrays and 8
    row strides a step where 2 and 2 do."""
    shared = {}
    for k, kind in enumerate(plan.kinds):
        j = program.source(k)
        if j != k and kind != "scalar" and plan.kinds[j] == kind:
            shared[k] = j
    return shared


def layout(program: ElementwiseProgram) -> Layout | None:
    """The first split of the shape that gives every input a kind, or ``None``."""
    shape = program.shape
    rank = len(shape)
    # Per input: for each axis, whether it varies along it (None: the axis has size 1).
    present: list[list[bool | None]] = []
    for in_shape, _ in program.inputs:
        if len(in_shape) > rank:
            return None
        padded = (1,) * (rank - len(in_shape)) + tuple(in_shape)
        axes: list[bool | None] = []
        for d, size in zip(padded, shape):
            if size == 1:
                axes.append(None)
            elif d == size:
                axes.append(True)
            elif d == 1:
                axes.append(False)
            else:
                return None
        present.append(axes)
    # A result written as blocks (a concatenation along the last axis) needs the last
    # axis as the loop's columns: each row stores one row of every block.
    splits = [rank - 1] if program.has_blocks and rank else range(rank + 1)
    for split in splits:
        kinds = []
        for axes in present:
            outer = [a for a in axes[:split] if a is not None]
            inner = [a for a in axes[split:] if a is not None]
            if not any(outer) and not any(inner):
                kinds.append("scalar")
            elif all(outer) and all(inner):
                kinds.append("full")
            elif not any(outer) and all(inner):
                kinds.append("row")
            elif all(outer) and not any(inner):
                kinds.append("col")
            else:
                break
        else:
            # Column blocks of wider matrices are read row by row: full inputs of a
            # matrix program only.
            if any(
                program.offset(k) is not None and (rank != 2 or kind != "full")
                for k, kind in enumerate(kinds)
            ):
                return None
            return Layout(split, tuple(kinds))
    return None


def _segments(program: ElementwiseProgram) -> list[list[int]]:
    """Step indices cut into runs that each hold at most one transcendental (and at most
    ``SEGMENT_COST``). A loop iteration that chains several transcendentals is one long
    dependency chain the CPU's out-of-order window can't overlap with the next
    iteration's (measured: a 100-op tanh/sigmoid/exp chain ran 2.3x faster cut this
    way), and gcc 12 stops vectorizing a function past ~30 of them anyway. Values
    cross between a tile's loops in scratch arrays that stay in L1."""
    segments: list[list[int]] = [[]]
    cost, transcendental = 0, False
    for j, step in enumerate(program.steps):
        weight = COSTS[step.cost]
        heavy = step.cost == "transcendental"
        if segments[-1] and ((heavy and transcendental) or cost + weight > SEGMENT_COST):
            segments.append([])
            cost, transcendental = 0, False
        segments[-1].append(j)
        cost += weight
        transcendental = transcendental or heavy
    return segments


def function_source(name: str, program: ElementwiseProgram, plan: Layout) -> str | None:
    """The C function ``name`` computing ``program``, or ``None`` if some step or dtype
    has no C form here.

    Three steps: each step's C expression (``_expressions``), the program cut into
    segments (``_segments``) with the values that cross them (``_Crossings``), then the
    source: one function per segment (``_segment_source``) called per tile by the
    driver (``_driver_source``). The iteration space is walked in tiles of ``TILE``
    elements of one row; each tile runs the segments as consecutive vectorizable
    loops. Results are all stored by the last loop, so a result written over an input
    never changes what an earlier loop of the same tile read."""
    expressions = _expressions(program)
    if expressions is None:
        return None
    segments = _segments(program)
    crossings = _Crossings.of(program, segments)
    functions, calls = [], []
    for s, segment in enumerate(segments):
        last = s == len(segments) - 1
        source, call = _segment_source(
            name, s, segment, last, program, plan, expressions, crossings
        )
        functions.append(source)
        calls.append(call)
    cost = work_per_element(program)
    return "".join(functions) + _driver_source(name, program, plan, crossings, calls, cost)


def work_per_element(program: ElementwiseProgram) -> int:
    """The rough cost of one element of ``program`` (loads and stores count 2), in
    units of one vectorized add: what decides whether a call is split across cores."""
    return 2 + sum(COSTS[step.cost] for step in program.steps)


def _expressions(program: ElementwiseProgram) -> list[str] | None:
    """The C expression of each step over locals ``x<input>`` / ``t<step>``, or ``None``
    when some step or dtype has no C form."""
    n_in = len(program.inputs)
    expressions = []
    for step in program.steps:
        args = [f"x{r}" if r < n_in else f"t{r - n_in}" for r in step.refs]
        arg_dtypes = tuple(program.dtype_of(r) for r in step.refs)
        expr = expression(step.kernel, args, arg_dtypes, step.dtype, dict(step.params))
        if expr is None:
            return None
        expressions.append(expr)
    if any(d not in C_TYPES for _, d in program.inputs):
        return None
    return expressions


@dataclass(frozen=True)
class _Crossings:
    """Which segment defines each step, and the steps whose values a later segment of
    the same tile reads (carried in ``TILE``-long scratch arrays)."""

    defined_in: dict[int, int]
    carried: tuple[int, ...]

    @staticmethod
    def of(program: ElementwiseProgram, segments: list[list[int]]) -> _Crossings:
        n_in = len(program.inputs)
        defined_in = {j: s for s, segment in enumerate(segments) for j in segment}
        used_in: dict[int, set[int]] = {}
        for s, segment in enumerate(segments):
            for j in segment:
                for r in program.steps[j].refs:
                    used_in.setdefault(r, set()).add(s)
        for r in program.written_refs:
            used_in.setdefault(r, set()).add(len(segments) - 1)
        carried = tuple(
            j for j in range(len(program.steps))
            if any(s > defined_in[j] for s in used_in.get(n_in + j, ()))
        )  # fmt: skip
        return _Crossings(defined_in, carried)


def _segment_source(
    name: str,
    s: int,
    segment: list[int],
    last: bool,
    program: ElementwiseProgram,
    plan: Layout,
    expressions: list[str],
    crossings: _Crossings,
) -> tuple[str, str]:
    """Segment ``s`` as its own C function (one vectorizable loop over a tile's columns)
    and the driver's call of it. The last segment also stores every result."""
    n_in = len(program.inputs)
    refs = {r for j in segment for r in program.steps[j].refs}
    if last:
        refs |= set(program.written_refs)
    signature, arguments = ["int64_t r", "int64_t n1", "int64_t c0", "int64_t c1"], []
    body = []
    for k in sorted(r for r in refs if r < n_in):
        dtype, kind = program.inputs[k][1], plan.kinds[k]
        if kind in ("scalar", "col"):  # already a local of the function or of the tile
            signature.append(f"const {C_TYPES[dtype]} x{k}")
            arguments.append(f"x{k}")
        else:
            # A full input is passed as a pointer to this row's start (its rows may be
            # further apart than the loop's: a column block of a wider matrix).
            signature.append(f"const {STORAGE[dtype]}* in{k}")
            arguments.append(f"in{k} + r * ld{k}" if kind == "full" else f"in{k}")
            body.append(f"const {C_TYPES[dtype]} x{k} = ({C_TYPES[dtype]})in{k}[c];")
    for j in crossings.carried:
        ctype = C_TYPES[program.steps[j].dtype]
        if crossings.defined_in[j] < s and n_in + j in refs:
            signature.append(f"const {ctype}* sc{j}")
            body.append(f"const {ctype} t{j} = sc{j}[c - c0];")
        elif crossings.defined_in[j] == s:
            signature.append(f"{ctype}* sc{j}")
        else:
            continue
        arguments.append(f"sc{j}")
    for j in segment:
        ctype = C_TYPES[program.steps[j].dtype]
        body.append(f"const {ctype} t{j} = ({ctype}){expressions[j]};")
    body += [f"sc{j}[c - c0] = t{j};" for j in crossings.carried if crossings.defined_in[j] == s]
    if last:
        for k, storage in enumerate(STORAGE[d] for d in program.result_dtypes):
            signature.append(f"{storage}* out{k}")
            arguments.append(f"out{k}")
            refs_k = program.result_refs(k)
            for b, ref in enumerate(refs_k):
                value = f"x{ref}" if ref < n_in else f"t{ref - n_in}"
                # Block b of a concatenation: row r of the result holds one row of each
                # block, n1 columns apart.
                at = "e" if len(refs_k) == 1 else f"(r * {len(refs_k)} + {b}) * n1 + c"
                body.append(f"out{k}[{at}] = ({storage}){value};")
    inner = "\n".join("        " + line for line in body)
    # One function per loop: gcc 12 stops vectorizing loops once a function holds
    # ~30 inlined transcendentals, however they are split into loops.
    source = f"""static NV_NOINLINE void {name}_{s}({", ".join(signature)}) {{
    NV_IVDEP
    for (int64_t c = c0; c < c1; c++) {{
        const int64_t e = r * n1 + c;
        (void)e;
{inner}
    }}
}}
"""
    return source, f"{name}_{s}(r, n1, c0, c1, {', '.join(arguments)});"


def _driver_source(
    name: str,
    program: ElementwiseProgram,
    plan: Layout,
    crossings: _Crossings,
    calls: list[str],
    cost: int,
) -> str:
    """The exported function: unpacks the arguments, then runs each tile's segments."""
    params, prologue, tile_setup = ["int64_t n0", "int64_t n1", "int64_t t0", "int64_t t1"], [], []
    shared = shared_inputs(program, plan)
    for k, ((_, dtype), kind) in enumerate(zip(program.inputs, plan.kinds)):
        ctype, storage = C_TYPES[dtype], STORAGE[dtype]
        if kind == "scalar":
            params.append(f"{'int' if dtype == 'bool' else ctype} s{k}")
            prologue.append(f"const {ctype} x{k} = ({ctype})s{k};")
            continue
        j = shared.get(k, k)  # the argument that carries this input's array
        if j == k:
            params.append(f"const void* p{k}")
            if kind == "full":
                params.append(f"int64_t ld{k}")  # elements from one row's start to the next
        elif kind == "full":
            prologue.append(f"const int64_t ld{k} = ld{j};")
        start = program.offset(k)  # a column block of a wider matrix starts there
        at = "" if start is None else f" + {start}"
        prologue.append(f"const {storage}* in{k} = (const {storage}*)NV_DATA(p{j}){at};")
        if kind == "col":
            tile_setup.append(f"const {ctype} x{k} = ({ctype})in{k}[r];")
    for k, dtype in enumerate(program.result_dtypes):
        storage = STORAGE[dtype]
        params.append(f"void* q{k}")
        prologue.append(f"{storage}* out{k} = ({storage}*)NV_DATA(q{k});")
    for j in crossings.carried:
        tile_setup.append(f"{C_TYPES[program.steps[j].dtype]} sc{j}[{TILE}];")
    setup = "\n".join("    " + line for line in prologue)
    tile = "\n".join("        " + line for line in (*tile_setup, *calls))
    return _looped_source(name, params, setup, tile, cost) + _packed_source(name, params)


def _packed_source(name: str, params: list[str]) -> str:
    """``<name>_packed(ints, objects)``: the loop called with its arguments in two arrays,
    for C callers that run loops from a table (``scan_loop``) and cannot spell each
    loop's own signature: the extent, tile range and row strides in ``ints``, in
    order; the arrays in ``objects``, in order, each anything ``NV_DATA`` reads (a
    scalar input is read from its one element)."""
    arguments, n_ints, n_objects = [], 0, 0
    for param in params:
        ctype, pname = param.rsplit(" ", 1)
        # By name, not type: an int64 scalar input ``s<k>`` is an int64_t too.
        if pname.startswith(("n", "t", "ld")):
            arguments.append(f"ints[{n_ints}]")
            n_ints += 1
            continue
        if pname.startswith("s"):  # a scalar input, passed by value
            storage = "uint8_t" if ctype == "int" else ctype  # bool is one byte
            arguments.append(f"({ctype})*(const {storage}*)NV_DATA(objects[{n_objects}])")
        else:
            arguments.append(f"objects[{n_objects}]")
        n_objects += 1
    return f"""void {name}_packed(const int64_t* ints, void* const* objects) {{
    {name}({", ".join(arguments)});
}}
"""


def _looped_source(name: str, params: list[str], setup: str, tile: str, cost: int) -> str:
    return f"""void {name}({", ".join(params)}) {{
{setup}
    const int64_t tiles_per_row = (n1 + {TILE} - 1) / {TILE}, all = n0 * tiles_per_row;
    const int64_t tiles = t1 < all ? t1 : all;
    const int64_t work = (tiles - t0) * {TILE} * {cost};
    (void)work;
    #pragma omp parallel for schedule(static) if (work >= {PARALLEL_WORK})
    for (int64_t tile = t0; tile < tiles; tile++) {{
        const int64_t r = tile / tiles_per_row, c0 = (tile % tiles_per_row) * {TILE};
        const int64_t c1 = c0 + {TILE} < n1 ? c0 + {TILE} : n1;
{tile}
    }}
}}
"""


def data_pointer_source(data_offset: int) -> str:
    """C that takes NumPy arrays as Python objects: ``NV_DATA(o)``, an array's data
    pointer read at ``data_offset`` of its object, and ``nv_data``, which a library's
    loader asks once to check that offset (``binding.reads_data_pointers``).

    >>> "nv_data" in data_pointer_source(16)
    True
    """
    return (
        f"#define NV_DATA(o) (*(void* const*)((const char*)(o) + {data_offset}))\n"
        "const void* nv_data(const void* o) { return NV_DATA(o); }\n"
    )


def library_source(functions: list[str], data_offset: int) -> str:
    """A whole translation unit: the prelude, then ``functions``."""
    prelude = f"""/* Generated by nerve: fused elementwise loops. */
#include <stdint.h>
#include <math.h>
#include "vmath.h"
{data_pointer_source(data_offset)}#if defined(__GNUC__)
#define NV_NOINLINE __attribute__((noinline))
#else
#define NV_NOINLINE
#endif
#if defined(__clang__)
#define NV_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define NV_IVDEP _Pragma("GCC ivdep")
#else
#define NV_IVDEP
#endif
"""
    return prelude + "\n".join(functions)
