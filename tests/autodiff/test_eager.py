"""The eager interpreter and its debug mode that checks every shape rule."""

import os
import subprocess
import sys

import numpy as np
import pytest

import nerve
from nerve.autodiff.eager import ShapeRuleMismatchError, checked_eager_bind, eager_bind
from nerve.backend import get_backend
from nerve.primitives import PRIMITIVES, Aval, Primitive, registry

BACKEND = get_backend("cpu")


@pytest.fixture
def lying_primitive():
    """A primitive whose rule says float32[2] while its kernel returns float64[3]."""
    BACKEND._kernels["_eager_lies"] = lambda x: np.zeros(3)
    prim = Primitive(
        "_eager_lies", shape_rule=lambda x: Aval((2,), "float32"), differentiable=False
    )
    yield prim
    del PRIMITIVES["_eager_lies"], BACKEND._kernels["_eager_lies"]


@pytest.fixture
def checks_on():
    nerve.config.enable_shape_rule_checks()
    yield
    nerve.config.enable_shape_rule_checks(False)


def test_the_unchecked_interpreter_is_the_default():
    assert registry.interpreter_stack[0] is eager_bind
    assert not nerve.config.shape_rule_checks_enabled()


def test_a_kernel_that_disagrees_with_its_rule_passes_silently_when_off(lying_primitive):
    assert lying_primitive.bind(nerve.ops.ones((2,))).shape == (3,)


def test_debug_mode_names_the_primitive_and_both_shapes(lying_primitive, checks_on):
    assert registry.interpreter_stack[0] is checked_eager_bind
    with pytest.raises(ShapeRuleMismatchError) as info:
        lying_primitive.bind(nerve.ops.ones((2,)))
    message = str(info.value)
    assert "_eager_lies" in message and "float32[2]" in message and "float64[3]" in message


def test_debug_mode_leaves_correct_programs_alone(checks_on):
    x = nerve.Variable(nerve.ops.arange(6.0).reshape(2, 3))
    with nerve.GradientTape() as tape:
        y = nerve.ops.sum(nerve.ops.tanh(x @ nerve.ops.ones((3, 2))) ** 2)
    assert tape.gradient(y, x).shape == (2, 3)


def test_the_environment_variable_turns_checks_on():
    code = (
        "import nerve; from nerve.primitives import registry; "
        "print(nerve.config.shape_rule_checks_enabled(), "
        "registry.interpreter_stack[0].__name__)"
    )
    env = {**os.environ, "NERVE_CHECK_SHAPE_RULES": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "checked_eager_bind"], out.stderr
