"""The Python operators on tensors (``x & y``, ``~x``, ``x // y``, ``x < y``, ...), on
every dtype family each supports: one table, checked by the op harness.

Each operator is written once, as a lambda that runs unchanged on nerve tensors, NumPy
arrays and torch tensors, so the same expression is its own reference: NumPy gives the
semantics, torch is the independent oracle (where it accepts the dtype). A binary
operator is also applied with a Python scalar on each side, which exercises the
reflected operator (``5 & x`` calls ``x.__rand__``) and weak scalar types.
"""

import ast
import dataclasses
import functools
import inspect
import re

import numpy as np
import pytest

from nerve import ops
from nerve.core.errors import DTypeError
from nerve.testing.op_harness import Input, OpCase, op_tests

OPERATORS = {
    "invert": lambda x: ~x,
    "and": lambda x, y: x & y,
    "or": lambda x, y: x | y,
    "xor": lambda x, y: x ^ y,
    "lshift": lambda x, y: x << y,
    "rshift": lambda x, y: x >> y,
    "add": lambda x, y: x + y,
    "subtract": lambda x, y: x - y,
    "multiply": lambda x, y: x * y,
    "true_divide": lambda x, y: x / y,
    "floor_divide": lambda x, y: x // y,
    "mod": lambda x, y: x % y,
    "power": lambda x, y: x**y,
    "negative": lambda x: -x,
    "positive": lambda x: +x,
    "abs": lambda x: abs(x),
    "less": lambda x, y: x < y,
    "less_equal": lambda x, y: x <= y,
    "greater": lambda x, y: x > y,
    "greater_equal": lambda x, y: x >= y,
    "equal": lambda x, y: x == y,
    "not_equal": lambda x, y: x != y,
}
COMPARISONS = ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal")

INTS = ("int8", "int16", "int32", "int64", "uint8")
BOOL_INTS = ("bool", *INTS)
FLOATS = ("float16", "float32", "float64")
# Pairs of operand dtypes whose result dtype NumPy, torch and nerve agree on.
MIXED = (("int8", "uint8"), ("bool", "int16"), ("uint8", "int64"))
# Variants cycle through these shapes: equal, broadcast both ways, a 0-d operand; each
# row also has one empty variant.
SHAPES = (((3, 4), (3, 4)), ((2, 1, 4), (3, 1)), ((4,), ()))
EMPTY = ((0, 2), (1, 2))


@dataclasses.dataclass(frozen=True)
class NonZero(Input):
    """Integers in [low, high) other than 0 (divisors)."""

    def generate(self, rng, float_dtype):
        value = rng.integers(int(self.low), int(self.high) - 1, self.shape)
        return np.asarray(np.where(value >= 0, value + 1, value)).astype(self.dtype)


@dataclasses.dataclass(frozen=True)
class Coarse(Input):
    """Whole numbers in the row's float dtype, so that comparisons meet ties."""

    def generate(self, rng, float_dtype):
        return np.round(rng.uniform(self.low, self.high, self.shape)).astype(float_dtype)


Positive = functools.partial(Input, kind="positive")


def _arity(op) -> int:
    return op.__code__.co_argcount


def _with_scalars(op, left, right):
    """``op`` on the two inputs, then with the Python scalar ``right`` on the right and
    ``left`` on the left (so the reflected operator runs)."""
    return lambda x, y: (op(x, y), op(x, right), op(left, y))


def _exact_input(shape, dtype, bounds, kind):
    if dtype == "bool":
        return Input(shape, "bool")
    low, high = bounds
    return kind(shape, "int", max(low, 0) if dtype == "uint8" else low, high, dtype=dtype)


def exact_row(
    name, dtypes, *, bounds=((-6, 7), (-6, 7)), scalars=(5, 6), divisor=False, torch=True, suffix=""
):
    """The operator ``name`` on bool and integer ``dtypes``: a variant per dtype (and,
    for a binary operator, per MIXED pair within ``dtypes``). ``bounds`` are each
    operand's [low, high) (clipped at 0 for uint8); ``divisor``: the second operand is
    never 0; ``scalars``: the Python (left, right) scalars."""
    op = OPERATORS[name]
    arity = _arity(op)
    kinds = (Input, NonZero if divisor else Input)

    def variants(groups, shapes):
        return [
            tuple(map(_exact_input, shapes[i % len(shapes)][:arity], group, bounds, kinds))
            for i, group in enumerate(groups)
        ]

    groups = [(d,) * arity for d in dtypes]
    same = variants(groups, SHAPES) + variants(groups[-1:], [EMPTY])
    # Mixed pairs skip the 0-d operand: torch promotes a 0-d tensor like a Python scalar.
    mixed = variants([pair for pair in MIXED if set(pair) <= set(dtypes)], SHAPES[:2])
    fn = _with_scalars(op, *scalars) if arity == 2 else op
    return OpCase(
        f"operator_{name}{suffix}",
        fn,
        same + (mixed if arity == 2 else []),
        numpy=fn,
        torch=fn if torch else None,
        grad=False,
        dtypes=("float32",),  # unused: every input has a fixed dtype
        symbolic=name != "equal",  # see _EQUALITY
    )


def float_row(name, *, kinds=(Input, Input), scalars=(1.5, 0.75), **kw):
    """The operator ``name`` on float16, float32 and float64 (gradients included unless
    ``grad=False``); ``kinds`` make each operand's Input from a shape."""
    op = OPERATORS[name]
    arity = _arity(op)
    variants = [tuple(k(s) for k, s in zip(kinds, shapes[:arity])) for shapes in (*SHAPES, EMPTY)]
    fn = _with_scalars(op, *scalars) if arity == 2 else op
    return OpCase(
        f"operator_{name}_float",
        fn,
        variants,
        numpy=fn,
        torch=fn,
        dtypes=FLOATS,
        symbolic=name != "equal",  # see _EQUALITY
        **kw,
    )


# ``==`` on symbolic tensors is identity, as in Keras: models keep their tensors in lists
# and compare them. ``ops.equal`` builds the node (its own row in test_arithmetic.py).
_EQUALITY = "equal"


SHIFT_BOUNDS = ((-8, 8), (0, 4))
CASES = [
    # Bitwise on integers, logical on bools, as in NumPy; floats are refused (below).
    exact_row("invert", BOOL_INTS),
    exact_row("and", BOOL_INTS),
    exact_row("or", BOOL_INTS),
    exact_row("xor", BOOL_INTS),
    exact_row("lshift", INTS, bounds=SHIFT_BOUNDS, scalars=(1, 2)),
    exact_row("rshift", INTS, bounds=SHIFT_BOUNDS, scalars=(64, 2)),
    # NumPy shifts bools as int8; torch refuses them.
    exact_row("lshift", ("bool",), scalars=(1, 2), torch=False, suffix="_bool"),
    exact_row("rshift", ("bool",), scalars=(64, 2), torch=False, suffix="_bool"),
    # Bools add and multiply (as OR and AND) but do not subtract or negate.
    exact_row("add", BOOL_INTS),
    exact_row("subtract", INTS),
    exact_row("multiply", BOOL_INTS),
    exact_row("true_divide", INTS, divisor=True, scalars=(6, 4)),
    exact_row("floor_divide", INTS, divisor=True),
    exact_row("mod", INTS, divisor=True),
    exact_row("power", INTS, bounds=((-4, 5), (0, 4)), scalars=(2, 3)),
    exact_row("negative", INTS),
    exact_row("positive", INTS),
    exact_row("abs", INTS),
    exact_row("abs", ("bool",), torch=False, suffix="_bool"),  # torch has no bool abs
    *(exact_row(name, BOOL_INTS) for name in COMPARISONS),
    float_row("add"),
    float_row("subtract"),
    float_row("multiply"),
    float_row("true_divide", kinds=(Input, Positive)),
    float_row("floor_divide", kinds=(Input, Positive), torch_grad=False),  # torch: no grad
    float_row("mod", kinds=(Input, Positive), torch_grad=False),  # torch: no grad of 1.5 % y
    float_row("power", kinds=(Positive, Input)),
    float_row("negative"),
    float_row("positive"),
    float_row("abs"),
    *(
        float_row(name, kinds=(Coarse, Coarse), scalars=(1.0, 0.0), grad=False)
        for name in COMPARISONS
    ),
]

globals().update(op_tests(CASES))


# -- what the table cannot say: result dtypes and refusals ------------------------------


@pytest.mark.parametrize("dtype", [*BOOL_INTS, *FLOATS])
@pytest.mark.parametrize("name", OPERATORS)
def test_operator_result_dtype_is_numpys(name, dtype):
    """Same-dtype operands give NumPy's result dtype (the table compares values only)."""
    op = OPERATORS[name]
    args = [np.array([1, 2, 3]).astype(dtype)] * _arity(op)
    try:
        expected = np.asarray(op(*args)).dtype.name
    except TypeError:
        return  # NumPy refuses it; the refusals nerve names are tested below
    if name == "true_divide" and dtype in BOOL_INTS:
        expected = "float32"  # Keras: integers divide to floatx, not float64
    assert op(*map(ops.convert_to_tensor, args)).dtype == expected


@pytest.mark.parametrize("name", ["and", "or", "xor", "lshift", "rshift", "invert"])
@pytest.mark.parametrize("dtype", INTS)
def test_bitwise_operators_keep_the_integer_dtype(name, dtype):
    op = OPERATORS[name]
    x = np.array([6, 3, 1], dtype=dtype)
    args = (x,) if name == "invert" else (x, np.array([1, 2, 3], dtype=dtype))
    ours = op(*map(ops.convert_to_tensor, args))
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours.numpy(), op(*args))
    if name != "invert":
        assert op(ops.convert_to_tensor(x), 2).dtype == dtype  # a Python int is weak
        assert op(2, ops.convert_to_tensor(x)).dtype == dtype


@pytest.mark.parametrize("name", ["and", "or", "xor", "invert"])
def test_bitwise_operators_on_bools_are_logical(name):
    op = OPERATORS[name]
    x, y = np.array([True, True, False, False]), np.array([True, False, True, False])
    args = (x,) if name == "invert" else (x, y)
    ours = op(*map(ops.convert_to_tensor, args))
    assert ours.dtype == "bool"
    np.testing.assert_array_equal(ours.numpy(), op(*args))
    if name != "invert":
        assert op(ops.convert_to_tensor(x), True).dtype == "bool"


def test_shifting_bools_gives_int8_as_in_numpy():
    x = ops.convert_to_tensor([True, False])
    assert (x << x).dtype == "int8" == (np.array([True]) << np.array([True])).dtype
    np.testing.assert_array_equal((x << x).numpy(), [2, 0])


def test_invert_of_integers_is_twos_complement():
    x = ops.convert_to_tensor(np.array([1, 2, 6], "int32"))
    np.testing.assert_array_equal((~x).numpy(), [-2, -3, -7])


@pytest.mark.parametrize(
    "expr,symbol,received",
    [
        (lambda x, i: x & i, "&", "float32 & int32"),
        (lambda x, i: i | x, "|", "int32 | float32"),
        (lambda x, i: x ^ 1, "^", "float32 ^ Python int"),
        (lambda x, i: 1.5 & i, "&", "Python float & int32"),
        (lambda x, i: ~x, "~", "float32"),
        (lambda x, i: x << i, "<<", "float32 << int32"),
        (lambda x, i: i >> 1.0, ">>", "int32 >> Python float"),
    ],
)
def test_bitwise_operators_refuse_floats_naming_operator_and_dtypes(expr, symbol, received):
    x, i = ops.ones((2,)), ops.ones((2,), dtype="int32")
    with pytest.raises(TypeError, match=re.escape(f"The {symbol} operator needs integer")) as info:
        expr(x, i)
    assert isinstance(info.value, DTypeError)
    assert f"got {received}." in str(info.value)
    assert "test_operators.py" in str(info.value)  # points at the user's line


def _declared_for_type_checkers(cls: type) -> set[str]:
    """Names that ``if TYPE_CHECKING:`` blocks in ``cls``'s body declare."""
    source = inspect.getsource(inspect.getmodule(cls))
    [body] = [
        node.body
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__
    ]
    names = set()
    for statement in body:
        if isinstance(statement, ast.If) and ast.unparse(statement.test) == "TYPE_CHECKING":
            for node in statement.body:
                if isinstance(node, ast.FunctionDef):
                    names.add(node.name)
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    names.add(node.target.id)
    return names


def test_type_checkers_see_exactly_the_installed_operators():
    """``Tensor``'s ``TYPE_CHECKING`` block declares what ``nerve.ops._methods`` installs
    at run time: nothing more (a method mypy accepts but the class lacks), nothing less."""
    from nerve.ops import _methods
    from nerve.tensor import Tensor

    installed = {*_methods._OPERATORS, "__array_ufunc__"}
    assert _declared_for_type_checkers(Tensor) == installed
    for name in installed:
        assert name in vars(Tensor), f"{name} is declared but not installed on Tensor"
