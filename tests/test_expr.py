"""The safe expression language of --function: hostile text is refused in one line, valid text is numpy's."""

import argparse
import time

import numpy as np
import pytest

from hw1.lab import data, expr

X = np.linspace(1.0 / 256, 1.0, 256)


def old_eval(text, x):
    """The evaluator hw1 used before the expression language (trusted test text only)."""
    return np.asarray(eval(text, {"__builtins__": {}}, {"np": np, "x": x, "pi": np.pi}), dtype=np.float64)  # noqa: S307


# ---------------------------------------------------------------- valid expressions

@pytest.mark.parametrize("text, reference", [
    ("np.sinc(5 * x)", lambda x: np.sinc(5 * x)),
    ("np.sign(np.sin(5 * np.pi * x))", lambda x: np.sign(np.sin(5 * np.pi * x))),
    ("sin(5 * pi * x) / (5 * pi * x)", lambda x: np.sin(5 * np.pi * x) / (5 * np.pi * x)),
    ("x**3", lambda x: x**3),
    ("x ** 0.5 - 2 * x", lambda x: x**0.5 - 2 * x),
    ("-x**2", lambda x: -x**2),
    ("2**-x", lambda x: 2.0**-x),
    ("x**x", lambda x: x**x),
    ("e**x + exp(-x)", lambda x: np.e**x + np.exp(-x)),
    ("np.e * np.pi * x", lambda x: np.e * np.pi * x),
    ("x % 0.3", lambda x: x % 0.3),
    ("+x - -x", lambda x: x + x),
    ("log(x) + log2(x) + log10(x) + log1p(x)", lambda x: np.log(x) + np.log2(x) + np.log10(x) + np.log1p(x)),
    ("sqrt(x) * cbrt(x) * square(x)", lambda x: np.sqrt(x) * np.cbrt(x) * np.square(x)),
    ("tanh(3*x) + arctan(x) + arcsin(x) + arccos(x)",
     lambda x: np.tanh(3 * x) + np.arctan(x) + np.arcsin(x) + np.arccos(x)),
    ("abs(x - 0.5) + floor(4*x) + ceil(4*x)", lambda x: np.abs(x - 0.5) + np.floor(4 * x) + np.ceil(4 * x)),
    ("maximum(x - 0.5, 0) + minimum(x, 0.3)", lambda x: np.maximum(x - 0.5, 0) + np.minimum(x, 0.3)),
    ("np.hypot(x, 1) + arctan2(x, 2)", lambda x: np.hypot(x, 1) + np.arctan2(x, 2)),
    ("x ** 100", lambda x: x**100),
    ("x ** -2", lambda x: x**-2.0),
    ("(2**3)**2 * x", lambda x: 64.0 * x),
    ("2", lambda x: np.full_like(x, 2.0)),
    ("1e6 * x", lambda x: 1e6 * x),
    ("1_000 * x", lambda x: 1000 * x),
    ("0x10 * x", lambda x: 16 * x),
])
def test_valid_expressions_match_numpy(text, reference):
    np.testing.assert_array_equal(expr.values_at(text, X), reference(X))


@pytest.mark.parametrize("key", sorted(data.FUNCTIONS))
def test_default_functions_give_the_values_of_the_old_evaluator(key):
    for x in (X, np.linspace(1e-3, 1.0, 1000), np.linspace(1 / 500, 1, 500, dtype=np.float32).astype(np.float64)):
        np.testing.assert_array_equal(data.evaluate_function(data.FUNCTIONS[key], x), old_eval(data.FUNCTIONS[key], x))


def test_function_data_of_the_defaults_is_unchanged():
    for key, text in data.FUNCTIONS.items():
        ds = data.function_data(text, 256, n_test=64, name=key)
        x_train, x_test = data.function_grids(256, 64)
        np.testing.assert_array_equal(ds.y_train[:, 0], old_eval(text, x_train).astype(np.float32))
        np.testing.assert_array_equal(ds.y_test[:, 0], old_eval(text, x_test).astype(np.float32))


@pytest.mark.parametrize("spec, name, text", [
    ("cube=x**3", "cube", "x**3"),
    ("  cube =  x ** 3 ", "cube", "x ** 3"),
    ("f_2=x", "f_2", "x"),
    ("a" * 40 + "=x", "a" * 40, "x"),
    ("relu=maximum(x - 0.5, 0)", "relu", "maximum(x - 0.5, 0)"),
])
def test_parse_function_keeps_name_and_text(spec, name, text):
    assert data.parse_function(spec) == (name, text)


def test_values_at_keeps_the_shape_of_x():
    grid = np.linspace(0.1, 1, 12).reshape(3, 4)
    assert expr.values_at("x * 2", grid).shape == (3, 4) and expr.values_at("3", grid).tolist() == [[3.0] * 4] * 3


# ---------------------------------------------------------------- hostile expressions

HOSTILE = [
    # code execution and escapes
    ('np.savetxt("pwned.txt", x) or x', "uses and/or"),
    ('np.savetxt("pwned.txt", x)', "'np.savetxt', which is not an accepted function"),
    ("().__class__.__base__.__subclasses__()", "which is not an accepted function"),
    ("x.__class__", "uses the attribute 'x.__class__'"),
    ("np.__dict__", "uses the attribute 'np.__dict__'"),
    ("__import__('os').system('true')", "which is not an accepted function"),
    ("__builtins__", "uses the name '__builtins__', which is not known"),
    ("np", "uses the name 'np', which is not known"),
    ("np.linalg.norm(x)", "'np.linalg.norm', which is not an accepted function"),
    ("np.sinc", "uses the attribute 'np.sinc'"),
    ("sin", "uses the name 'sin', a function that must be called"),
    ("eval('x')", "'eval', which is not an accepted function"),
    ("open('f')", "'open', which is not an accepted function"),
    ("np.ones(64)", "'np.ones', which is not an accepted function"),
    ("x[0]", "uses a subscript"),
    ("[t for t in x]", "uses a comprehension"),
    ("(lambda: 1)()", "which is not an accepted function"),
    ("lambda: 1", "uses a lambda"),
    ("'abc'", "a str; only real numbers"),
    ("f'{x}'", "uses a string"),
    ("x if 1 else 2", "uses if/else"),
    ("x < 1", "uses a comparison"),
    ("(y := x)", "uses an assignment"),
    ("(x, x)", "uses a tuple"),
    ("sin(x=1)", "with keywords or *"),
    ("sin(*x)", "with keywords or *"),
    ("sin(x, x)", "calls sin with 2 arguments; it takes 1"),
    ("maximum(x)", "calls maximum with 1 arguments; it takes 2"),
    ("x // 2", "uses the operator '//'"),
    ("x @ x", "uses the operator '@'"),
    ("~x", "uses the operator '~'"),
    ("not x", "uses the operator 'not'"),
    ("True + x", "a bool; only real numbers"),
    ("x;import os", "is not a formula"),
    ("import os", "is not a formula"),
    ("x +", "is not a formula"),
    # huge powers and numbers
    ("9**9**9*0+x", "uses the exponent '9**9' = 3.8742e+08, out of range"),
    ("x**200", "uses the exponent '200' = 200, out of range"),
    ("x**-101", "out of range"),
    ("2**(9**9)", "out of range"),
    ("x**(50*3)", "uses the exponent '50*3' = 150"),
    ("x**(0/0)", "= nan, out of range"),
    ("10**400", "out of range"),
    ("1" + "0" * 400, "characters long; at most 300"),
    ("1" + "0" * 290, "gives |f| > 1e6"),
    ("1" + "0" * 299 + "*x", "characters long; at most 300"),
    ("1e999 * 0 + x", "which is too large"),
    # complex, non-finite, too large
    ("x+1j", "uses '1j', a complex number"),
    ("sqrt(x - 2)", "gives NaN/inf"),
    ("(-x)**0.5", "gives NaN/inf"),
    ("log(x - 2)", "gives NaN/inf"),
    ("1/0", "gives NaN/inf"),
    ("x % 0", "gives NaN/inf"),
    ("exp(1000*x)*0", "gives NaN/inf"),
    ("(10**100)**100*0", "gives NaN/inf"),
    ("1/(x-0.5)", "gives NaN/inf at x = 0.5"),
    ("1e200*x", "gives |f| > 1e6"),
    ("x**-3", "gives |f| > 1e6"),
    ("exp(20*x)", "gives |f| > 1e6"),
    # characters and size
    ("\u0663*x", "contains the character '\u0663'; only printable ASCII"),  # Arabic-Indic digit three
    ("\uff58", "contains the character '\uff58'"),  # fullwidth x, which Python would read as x
    ("x \u2212 1", "contains the character '\u2212'"),  # unicode minus
    ("x\x00", "contains the character '\\x00'"),
    ("x\n+1", "contains the character '\\n'"),
    ("-" * 250 + "x", "has 251 terms; at most 200"),
    ("sin(" * 45 + "x" + ")" * 45, "nested more than 40 levels"),
    ("x" + "+x" * 149, "has 299 terms; at most 200"),
]


@pytest.mark.parametrize("text, message", HOSTILE)
def test_hostile_expressions_are_refused(text, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    with pytest.raises(data.DataError) as caught:
        data.parse_function(f"f={text}")
    assert time.perf_counter() - start < 2.0
    line = str(caught.value)
    assert message in line and "\n" not in line and line.startswith("--function ")
    assert len(line) < 600
    assert not list(tmp_path.iterdir()), "nothing is written"


@pytest.mark.parametrize("text, message", HOSTILE)
def test_hostile_expressions_refused_by_the_expression_module(text, message):
    with pytest.raises(expr.ExpressionError, match="^expression ") as caught:
        expr.values_at(text, X)
    assert message in caught.value.predicate


@pytest.mark.parametrize("spec, message", [
    ("noequals", "is not NAME=EXPR"),
    ("=x", "is not NAME=EXPR"),
    ("f=", "is not NAME=EXPR"),
    ("f = ", "is not NAME=EXPR"),
    ("a" * 300 + "=x", "NAME 'aaaa"),
    ("a" * 41 + "=x", "of 1 to 40 characters"),
    ("1f=x", "has the NAME '1f', which is not accepted"),
    ("my-f=x", "has the NAME 'my-f'"),
    ("../x=x", "has the NAME '../x'"),
    ("f g=x", "has the NAME 'f g'"),
    ("\u0192=x", "has the NAME '\u0192'"),  # a non-ASCII identifier
    ("f=x=1", "is not a formula"),
])
def test_bad_specs(spec, message):
    with pytest.raises(data.DataError, match="^--function ") as caught:
        data.parse_function(spec)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert len(str(caught.value)) < 400, "a long NAME or EXPR is truncated in the message"


# ---------------------------------------------------------------- checked on the real grids

def test_pole_on_the_training_grid_is_refused_by_function_data():
    # 0.5 is a point of the 256-sample grid, not of the 255-sample one
    with pytest.raises(data.DataError, match=r"^function 'pole' = '1/\(x-0.5\)' gives NaN/inf at x = 0.5 .*256"):
        data.function_data("1/(x-0.5)", 256, name="pole")
    assert np.all(np.isfinite(data.function_data("1/(x-0.5)", 255, name="pole").y_train))


def test_pole_on_the_test_grid_is_refused():
    # the 4-point test grid is 0.125, 0.375, 0.625, 0.875
    with pytest.raises(data.DataError, match="gives NaN/inf at x = 0.375"):
        data.function_data("1/(x-0.375)", 255, n_test=4)


def test_parse_function_checks_the_grids_it_is_given():
    grids = data.function_grids(255, 0)
    assert data.parse_function("pole=1/(x-0.5)", grids=grids) == ("pole", "1/(x-0.5)")
    with pytest.raises(data.DataError, match="gives NaN/inf at x = 0.5"):
        data.parse_function("pole=1/(x-0.5)", grids=[*grids, np.array([0.25, 0.5])])
    with pytest.raises(data.DataError, match="gives NaN/inf at x = 0.5"):
        data.parse_function("pole=1/(x-0.5)")  # the default probe holds the common grids


def test_empty_expression():
    with pytest.raises(expr.ExpressionError, match="^expression '  ' is empty$"):
        expr.parse("  ")


def test_evaluate_function_checks_its_points():
    with pytest.raises(data.DataError, match=r"^expression 'log\(x\)' gives NaN/inf at x = 0 "):
        data.evaluate_function("log(x)", np.array([0.0, 0.5]))
    with pytest.raises(data.DataError, match="uses a subscript"):
        data.evaluate_function("x[0]", X)


@pytest.mark.parametrize("n_train, n_test", [(0, 0), (-3, 0), (10, -1), (2.5, 0)])
def test_function_data_refuses_bad_sample_counts(n_train, n_test):
    with pytest.raises(data.DataError, match="sample counts must be integers"):
        data.function_data("x", n_train, n_test)


def test_help_text_lists_the_language_and_renders_in_argparse():
    for word in ("x", "pi", "sin", "sinc", "sign", "**", "1e6", "40"):
        assert word in data.FUNCTION_HELP
    assert "\n" not in data.FUNCTION_HELP
    parser = argparse.ArgumentParser()
    parser.add_argument("--function", help=data.FUNCTION_HELP)
    text = " ".join(parser.format_help().split())
    assert "+ - * / % **" in text
