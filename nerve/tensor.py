"""``Tensor`` and ``Variable``.

A ``Tensor`` is an immutable n-d value: a backend array plus nothing else. The
tape that differentiates it (``nerve.autodiff``) keeps its own record of which
primitive produced which tensor, so a tensor costs one Python object.

A ``Variable`` is mutable, trainable state usable wherever a tensor is. Assigning
rebinds it to a new array, so a tensor read from it earlier keeps its value.

Python operators (``+``, ``@``, indexing, ...) are attached by ``nerve.ops``,
which sits above this module; see ``nerve.ops._methods``.

>>> import nerve
>>> t = nerve.ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]])
>>> t.shape, t.dtype
((2, 2), 'float32')
>>> v = nerve.Variable([1.0, 2.0], name="v")
>>> v.assign_add([1.0, 1.0]).numpy()
array([2., 3.], dtype=float32)
"""

from __future__ import annotations

import itertools
import weakref
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, cast

from nerve.backend import backend_of, get_backend
from nerve.core import dtypes, global_state
from nerve.core.errors import DTypeError, ShapeError, with_location
from nerve.core.symbolic import Dim, Symbolic, python_type

__all__ = [
    "IdentityWeakMap",
    "Tensor",
    "Variable",
    "convert_to_tensor",
    "snapshot_owner",
    "symbolic_scalar",
]

# Backend dtype object -> nerve dtype name; dtype objects are hashable in every backend.
_DTYPE_NAMES: dict = {}


class Tensor:
    """An immutable n-d array of one dtype on one device.

    ``_keras_mask`` (unset by default) is Keras's implicit mask: a boolean tensor that
    a layer attaches to its output (``Embedding(mask_zero=True)``, ``Masking``) and
    that ``Layer.__call__`` hands to the next layer's ``mask`` argument.
    """

    __slots__ = ("__weakref__", "_keras_mask", "_value")
    _keras_mask: Tensor | None

    def __init__(self, value: Any, dtype: str | None = None):
        self._value = _to_array(value, dtype)

    # -- metadata ---------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self._value.shape)

    @property
    def dtype(self) -> str:
        native = self._value.dtype
        name = _DTYPE_NAMES.get(native)
        if name is None:
            name = _DTYPE_NAMES[native] = backend_of(self._value).dtype_name(self._value)
        return name

    @property
    def ndim(self) -> int:
        return self._value.ndim

    @property
    def size(self) -> int:
        size = self._value.size
        # A traced tensor with a symbolic axis has a symbolic size (nerve.core.symbolic),
        # which stands in for the int.
        return cast(int, size) if type(size) is Dim else int(size)

    @property
    def device(self) -> str:
        return backend_of(self._value).device_of(self._value)

    def __len__(self) -> int:
        if not self._value.ndim:
            raise TypeError("len() of a 0-d tensor")
        return self._value.shape[0]

    # -- conversion -----------------------------------------------------------------
    def numpy(self):
        """The value as a NumPy array: a read-only view on the CPU (tensors are
        immutable), a copy when the tensor lives on a GPU."""
        return backend_of(self._value).to_numpy(self._value)

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        if dtype is not None:
            return array.astype(dtype)
        return array.copy() if copy else array

    def _exportable(self):
        # Kernels may return array scalars for 0-d results; those have no DLPack export.
        value = self._value
        return value if hasattr(value, "__dlpack__") else backend_of(value).asarray(value)

    def __dlpack__(self, *args, **kwargs):
        return self._exportable().__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._exportable().__dlpack_device__()

    def item(self):
        return self.numpy().item()

    def tolist(self):
        return self.numpy().tolist()

    def __bool__(self) -> bool:
        if self._value.size != 1:
            raise ValueError(
                with_location(
                    f"The truth value of a tensor of shape {self.shape} is ambiguous; "
                    "use nerve.ops.any() or nerve.ops.all()."
                )
            )
        return bool(self._value)

    def __float__(self) -> float:
        return float(self._value)

    def __int__(self) -> int:
        return int(self._value)

    def __index__(self) -> int:
        if not dtypes.is_int(self.dtype):
            raise TypeError(f"Only integer tensors can be used as an index, not {self.dtype}.")
        return int(self._value)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        if backend_of(self._value).name == "abstract":
            return f"Tensor(<traced>, shape={self.shape}, dtype={self.dtype})"
        body = repr(self.numpy())
        # NumPy's repr says array(...): keep its layout, say what we are.
        if body.startswith("array("):
            body = body[len("array(") : -1]
            body = body.replace("\n      ", "\n       ")
        extra = "" if "dtype=" in body else f", dtype={self.dtype}"
        return f"Tensor({body}{extra})"

    def __str__(self) -> str:
        return str(self.numpy())

    __hash__ = object.__hash__  # identity, as for torch tensors; == is elementwise

    if TYPE_CHECKING:
        # nerve.ops._methods installs these on the class when nerve.ops loads (this
        # module sits below nerve.ops); declared here so that type checkers know them.
        # The list matches _methods._OPERATORS, which tests/ops/test_methods.py checks.
        __array_ufunc__: ClassVar[None]  # NumPy defers to the reflected operators

        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __floordiv__(self, other: Any) -> Tensor: ...
        def __rfloordiv__(self, other: Any) -> Tensor: ...
        def __mod__(self, other: Any) -> Tensor: ...
        def __rmod__(self, other: Any) -> Tensor: ...
        def __pow__(self, other: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __matmul__(self, other: Any) -> Tensor: ...
        def __rmatmul__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __invert__(self) -> Tensor: ...
        def __and__(self, other: Any) -> Tensor: ...
        def __rand__(self, other: Any) -> Tensor: ...
        def __or__(self, other: Any) -> Tensor: ...
        def __ror__(self, other: Any) -> Tensor: ...
        def __xor__(self, other: Any) -> Tensor: ...
        def __rxor__(self, other: Any) -> Tensor: ...
        def __lshift__(self, other: Any) -> Tensor: ...
        def __rlshift__(self, other: Any) -> Tensor: ...
        def __rshift__(self, other: Any) -> Tensor: ...
        def __rrshift__(self, other: Any) -> Tensor: ...
        # Elementwise comparisons return a bool tensor, not object's bool.
        def __eq__(self, other: Any) -> Tensor: ...  # type: ignore[override]
        def __ne__(self, other: Any) -> Tensor: ...  # type: ignore[override]
        def __lt__(self, other: Any) -> Tensor: ...
        def __le__(self, other: Any) -> Tensor: ...
        def __gt__(self, other: Any) -> Tensor: ...
        def __ge__(self, other: Any) -> Tensor: ...
        def __getitem__(self, key: Any) -> Tensor: ...
        # Always raises TypeError: tensors are immutable.
        def __setitem__(self, key: Any, value: Any) -> NoReturn: ...
        def astype(self, dtype: str) -> Tensor: ...
        def reshape(self, *shape: Any) -> Tensor: ...
        def transpose(self, *axes: int) -> Tensor: ...
        @property
        def T(self) -> Tensor: ...


def _new_tensor(array: Any) -> Tensor:
    """Wrap a backend array without conversion (the hot path of every op)."""
    t = object.__new__(Tensor)
    t._value = array
    return t


def _to_array(value: Any, dtype: str | None) -> Any:
    """A backend array from a tensor, a backend array, or host data.

    Host data is always copied: tensors are immutable, so a tensor must not share
    a buffer its caller can still write to.
    """
    if isinstance(value, Tensor):
        array = value._value
        if dtype is not None and backend_of(array).dtype_name(array) != dtype:
            backend = backend_of(array)
            array = backend.kernel("cast")(array, dtypes.standardize_dtype(dtype))
        return array
    if dtype is not None:
        dtype = dtypes.standardize_dtype(dtype)
    if value is None or isinstance(value, (str, bytes)):
        raise DTypeError(
            with_location(f"Cannot convert {type(value).__name__} {value!r} to a tensor.")
        )
    try:
        backend = backend_of(value)
    except Exception:
        backend = get_backend()
        if dtype is None:
            dtype = _infer_dtype(value)
    try:
        array = backend.asarray(value, dtype, copy=True)
    except (TypeError, ValueError) as error:
        raise DTypeError(
            with_location(f"Cannot convert {type(value).__name__} to a tensor: {error}")
        ) from None
    name = backend.dtype_name(array)
    if name not in dtypes.ALL_TYPES:
        raise DTypeError(
            with_location(
                f"Cannot convert data of dtype {name} to a tensor: nerve supports "
                f"{', '.join(dtypes.ALL_TYPES)}. Cast the data to one of them first."
            )
        )
    return array


def _infer_dtype(value: Any) -> str | None:
    """dtype of host data: Python scalars and nested lists follow Keras (int32, floatx);
    arrays from other libraries keep theirs."""
    if isinstance(value, (bool, int, float, complex)):
        return dtypes.default_dtype_of_scalar(value)
    if isinstance(value, (list, tuple)):
        flat = list(_flatten_nested(value))
        if not flat:
            return dtypes.standardize_dtype(None)
        if all(isinstance(v, (bool, int, float)) for v in flat):
            if all(isinstance(v, bool) for v in flat):
                return "bool"
            if all(isinstance(v, int) for v in flat):
                return "int32"
            return dtypes.standardize_dtype(None)
        if any(isinstance(v, Tensor) for v in flat):
            kinds = {v.dtype if isinstance(v, Tensor) else None for v in flat}
            kinds.discard(None)
            return dtypes.result_type(*kinds, *(type(v) for v in flat if not isinstance(v, Tensor)))
        return None
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        return dtypes.standardize_dtype(dtype)
    return None


def _flatten_nested(value):
    for v in value:
        if isinstance(v, (list, tuple)):
            yield from _flatten_nested(v)
        elif isinstance(v, Tensor):
            yield v
        else:
            yield v


def convert_to_tensor(x: Any, dtype: str | None = None) -> Tensor:
    """``x`` as a tensor: tensors pass through (cast if ``dtype`` differs); Python scalars
    become int32/floatx/bool; NumPy arrays keep their dtype.

    >>> convert_to_tensor(2.0).dtype
    'float32'
    >>> convert_to_tensor([1, 2], dtype="float64").dtype
    'float64'
    """
    if type(x) is Tensor and dtype is None:
        return x
    if isinstance(x, Variable):
        x = x.value
    if isinstance(x, Tensor):
        if dtype is None or x.dtype == dtypes.standardize_dtype(dtype):
            return x
        from nerve.primitives.elementwise import cast_p

        return cast_p.bind(x, dtype=dtypes.standardize_dtype(dtype))
    if isinstance(x, (list, tuple)) and any(isinstance(v, Tensor) for v in _flatten_nested(x)):
        x = _stack_nested(x, dtype)
        return x
    if isinstance(x, Symbolic):
        return symbolic_scalar(x, dtype)
    return _new_tensor(_to_array(x, dtype))


def symbolic_scalar(value: Symbolic, dtype: str | None = None) -> Tensor:
    """A 0-d tensor holding a symbolic number (a batch size, a mean's ``1 / n``) while a
    function is traced with a symbolic size: a ``full`` node whose ``value`` param is
    that number, so specializing the graph to a size makes it a constant (which
    constant folding then folds), rather than a constant baked in at trace time."""
    from nerve.primitives.creation import full_p

    if dtype is None:
        dtype = dtypes.default_dtype_of_scalar(python_type(value)(0))
    return full_p.bind(shape=(), value=value, dtype=dtypes.standardize_dtype(dtype))


def _stack_nested(x, dtype):
    """Lists holding tensors: convert each element to host data, then stack."""

    def host(v):
        if isinstance(v, Tensor):
            return v.numpy()
        if isinstance(v, (list, tuple)):
            return [host(e) for e in v]
        return v

    inferred = dtype or _infer_dtype(x)
    return _new_tensor(_to_array(host(x), inferred))


# -- Variable ---------------------------------------------------------------------

_variable_ids = itertools.count()


class IdentityWeakMap:
    """Tensor -> value, by identity (``==`` on tensors is elementwise, so a
    WeakKeyDictionary can't be used); entries vanish with their tensors."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref, Any]] = {}

    def __setitem__(self, key: Tensor, value: Any) -> None:
        ident = id(key)
        entries = self._entries
        entries[ident] = (weakref.ref(key, lambda _: entries.pop(ident, None)), value)

    def get(self, key: Tensor, default: Any = None) -> Any:
        entry = self._entries.get(id(key))
        if entry is None or entry[0]() is not key:
            return default
        return entry[1]


# Which variable a tensor was read from (``Variable.value``, or a traced read), so a
# tape that watches the variable also differentiates through its read values.
snapshot_owner = IdentityWeakMap()

# While nerve.function traces, the tracer on top of this stack turns variable reads and
# assignments into graph nodes (it implements read/assign/assign_add/assign_sub).
_trace_hooks: list = []


class Variable(Tensor):
    """Mutable, trainable state; usable wherever a tensor is.

    >>> v = Variable([[1.0, 2.0]], name="kernel")
    >>> v.name, v.shape, v.trainable
    ('kernel', (1, 2), True)
    """

    __slots__ = ("_snapshot", "constraint", "name", "path", "trainable")

    def __init__(
        self,
        initial_value: Any,
        dtype: str | None = None,
        trainable: bool = True,
        name: str | None = None,
        constraint: Any = None,
        path: str | None = None,
    ):
        if callable(initial_value) and not isinstance(initial_value, Tensor):
            initial_value = initial_value()
        self._value = _to_array(initial_value, dtype)
        if backend_of(self._value).name == "abstract":
            from nerve.core.errors import TracingError

            raise TracingError(
                with_location(
                    f"Variable {name or ''!r} was created from a traced tensor inside "
                    "nerve.function, so it has no value yet. Create it inside "
                    "`with nerve.init_scope():` (or outside the function)."
                )
            )
        self._snapshot: Tensor | None = None
        self.trainable = bool(trainable)
        self.name = name if name is not None else f"variable_{next(_variable_ids)}"
        #: Projection applied after each optimizer update (Keras's ``variable.constraint``).
        self.constraint = constraint
        #: Where the variable lives in a model, e.g. ``"dense/kernel"`` (Keras's ``path``).
        self.path = path if path is not None else self.name
        scope = global_state.current_path()
        if scope:  # inside nerve.name_scope(...), as Keras's variable paths
            self.path = f"{scope}/{self.path}"

    @property
    def value(self) -> Tensor:
        """The current value as an immutable tensor (the same object until the next assign)."""
        if _trace_hooks:
            return _trace_hooks[-1].read(self)
        snap = self._snapshot
        if snap is None or snap._value is not self._value:
            snap = self._snapshot = _new_tensor(self._value)
            snapshot_owner[snap] = self
        return snap

    def numpy(self):
        return self.value.numpy()

    def assign(self, value: Any) -> Variable:
        """Replace the value; shape and dtype must stay the same."""
        if _trace_hooks:
            return _trace_hooks[-1].assign(self, value)
        array = _to_array(value, self.dtype)
        if tuple(array.shape) != tuple(self._value.shape):
            raise ShapeError(
                with_location(
                    f"Variable {self.name!r}: cannot assign a value of shape {tuple(array.shape)} "
                    f"to a variable of shape {self.shape}."
                )
            )
        self._value = array
        return self

    def _assign_owned(self, host_array: Any) -> Variable:
        """``assign`` for a freshly made array that nobody else holds (values read from a
        weights file): converted to the variable's backend and dtype without the copy
        ``assign`` makes of host data, so loading a model keeps one copy of each weight."""
        array = backend_of(self._value).asarray(host_array, self.dtype)
        if tuple(array.shape) != tuple(self._value.shape):
            raise ShapeError(
                f"Variable {self.name!r}: cannot assign a value of shape {tuple(array.shape)} "
                f"to a variable of shape {self.shape}."
            )
        self._value = array
        return self

    def assign_add(self, delta: Any) -> Variable:
        """Add ``delta`` (broadcast to the variable's shape) to the value."""
        if _trace_hooks:
            return _trace_hooks[-1].assign_add(self, delta)
        return self.assign(_variable_binary("add", self, delta))

    def assign_sub(self, delta: Any) -> Variable:
        """Subtract ``delta`` (broadcast to the variable's shape) from the value."""
        if _trace_hooks:
            return _trace_hooks[-1].assign_sub(self, delta)
        return self.assign(_variable_binary("subtract", self, delta))

    def __repr__(self) -> str:
        body = repr(self.value)[len("Tensor(") : -1]
        return f"<Variable {self.name!r} shape={self.shape} dtype={self.dtype}, value=({body})>"

    def __reduce__(self):
        raise TypeError("nerve Variables are not picklable; use the saving APIs.")


def _variable_binary(kernel: str, variable: Variable, delta: Any):
    """Array arithmetic for in-place updates: not recorded on any tape, like TF's assign ops."""
    array = variable._value
    backend = backend_of(array)
    other = _to_array(delta, backend.dtype_name(array))
    shape = tuple(array.shape)
    other_shape = tuple(other.shape)
    fits = len(other_shape) <= len(shape) and all(
        d in (1, s) for d, s in zip(reversed(other_shape), reversed(shape))
    )
    if not fits:
        raise ShapeError(
            with_location(
                f"Variable {variable.name!r}: cannot {kernel} a value of shape {other_shape} "
                f"to a variable of shape {shape}; the value must have the variable's shape "
                "or broadcast to it."
            )
        )
    return backend.kernel(kernel)(array, other)
