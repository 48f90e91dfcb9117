"""Read Keras 3's table of op classes from its source (for test_operation.py).

For each ``keras.src.ops.<family>`` module: every ``Operation`` subclass that one of
the module's public functions instantiates, the function (the one named as the class
in snake case where several use it), and the names of the class's constructor and
``call`` arguments (``*`` marks a variable positional one). Facts about Keras's file
format; nerve keeps them in ``nerve/layers/_keras_ops.py``.
"""

import importlib
import inspect
import re

FAMILIES = ("numpy", "nn", "math", "linalg", "image", "core")


def _argument_names(signature: inspect.Signature, skip: set) -> tuple:
    names = []
    for p in signature.parameters.values():
        if p.name in skip or p.kind is p.VAR_KEYWORD:
            continue
        names.append(("*" if p.kind is p.VAR_POSITIONAL else "") + p.name)
    return tuple(names)


def keras_op_rows() -> list[tuple]:
    """``(family, class_name, function, init_arguments, call_arguments)`` rows."""
    from keras.src.ops.operation import Operation

    rows = []
    for family in FAMILIES:
        module = importlib.import_module(f"keras.src.ops.{family}")
        classes = {
            name: value
            for name, value in vars(module).items()
            if inspect.isclass(value)
            and issubclass(value, Operation)
            and value.__module__ == module.__name__
        }
        users: dict[str, list[str]] = {}
        for name, value in vars(module).items():
            if not inspect.isfunction(value) or value.__module__ != module.__name__:
                continue
            if name.startswith("_"):
                continue
            for used in re.findall(r"\b([A-Z]\w*)\(", inspect.getsource(value)):
                if used in classes and name not in users.setdefault(used, []):
                    users[used].append(name)
        for class_name, cls in classes.items():
            functions = users.get(class_name)
            if not functions:
                continue
            snake = re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()
            function = next(
                (f for f in (snake, class_name.lower()) if f in functions), functions[0]
            )
            init = _argument_names(inspect.signature(cls.__init__), {"self", "name"})
            call = _argument_names(inspect.signature(cls.call), {"self"})
            rows.append((family, class_name, function, init, call))
    return rows


if __name__ == "__main__":
    for row in keras_op_rows():
        print(f"    {row!r},")
