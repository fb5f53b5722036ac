"""A small, safe expression language for single-input functions ``y = f(x)``.

User text (``--function NAME=EXPR``) is parsed with :mod:`ast` and evaluated by
walking the tree with numpy; it is never given to ``eval`` or ``compile``.
Allowed: numbers, ``x``, ``pi`` and ``e``; ``+ - * / % **`` and unary ``+ -``;
parentheses; the elementwise functions of :data:`FUNCTIONS`, called by bare name
(``sin(x)``) or with the ``np.`` prefix (``np.sin(x)``; ``np.pi`` and ``np.e`` too).
Nothing else: no other names or attributes, subscripts, comparisons, keywords,
strings, lambdas or comprehensions. A constant exponent is limited to
``|p| <= MAX_EXPONENT`` (so ``9**9**9`` is refused at once, never folded), and
every value is computed in float64, so no operation can run unbounded.

A result is accepted when it is real, finite and ``|f| <= MAX_ABS`` at every
point of the grid it was evaluated on (so that plotting and training cannot
overflow); :func:`values_at` checks this on the grid it is given.

This module imports only numpy; errors are :class:`ExpressionError` (one line).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Callable

import numpy as np

MAX_TEXT = 300          # characters of an expression
MAX_DEPTH = 40          # nesting of the parsed tree
MAX_NODES = 200         # terms (numbers, names, operations, calls) of the parsed tree
MAX_EXPONENT = 100.0    # |p| of a constant exponent
MAX_ABS = 1e6           # |f(x)| on the grid
MAX_NAME = 40           # characters of a function's NAME

FUNCTIONS: dict[str, tuple[Callable[..., np.ndarray], int]] = {  # name -> (numpy function, number of arguments)
    **{name: (getattr(np, name), 1) for name in (
        "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
        "arctanh", "exp", "expm1", "exp2", "log", "log2", "log10", "log1p", "sqrt", "cbrt", "square", "abs",
        "sign", "sinc", "floor", "ceil")},
    **{name: (getattr(np, name), 2) for name in ("minimum", "maximum", "arctan2", "hypot")},
}
CONSTANTS = {"pi": np.pi, "e": np.e}
VARIABLE = "x"
_BINARY = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
           ast.Mod: np.remainder, ast.Pow: np.power}
_UNARY = {ast.UAdd: np.positive, ast.USub: np.negative}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%", ast.Pow: "**",
            ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&",
            ast.BitOr: "|", ast.BitXor: "^", ast.Invert: "~", ast.Not: "not"}


def _number(value: float) -> str:
    return f"{value:g}".replace("e+0", "e").replace("e+", "e")


HELP = ("a function of x on (0, 1]: numbers, x, pi, e, + - * / % ** (constant exponents within "
        f"±{_number(MAX_EXPONENT)}), parentheses and {', '.join(f for f, (_, n) in FUNCTIONS.items() if n == 1)} "
        f"(also {', '.join(f for f, (_, n) in FUNCTIONS.items() if n == 2)} of two arguments; an np. prefix "
        f"is allowed), giving finite real values with |f| <= {_number(MAX_ABS)}; NAME is an identifier of at most "
        f"{MAX_NAME} ASCII characters, e.g. 'cube=x**3'")


class ExpressionError(ValueError):
    """An expression outside the language, or one whose values are not accepted; the message is one line.

    ``str(err)`` is ``subject + " " + predicate``, e.g. "expression 'x[0]'" + "uses a subscript, ...";
    a caller with its own subject (``--function 'f=x[0]'``) can use :attr:`predicate` alone.
    """

    def __init__(self, predicate: str, subject: str = "the expression") -> None:
        self.predicate, self.subject = predicate, subject
        super().__init__(f"{subject} {predicate}")


def _short(text: str, limit: int = 60) -> str:
    """``repr`` of ``text``, truncated to about ``limit`` characters."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


@dataclass(frozen=True)
class Expression:
    """A parsed expression: evaluate it with :meth:`__call__` (no checks) or :func:`values_at` (checked)."""

    text: str
    tree: ast.Expression

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            value = _evaluate(self.tree.body, np.asarray(x, dtype=np.float64))
        return np.broadcast_to(value, np.shape(x)).astype(np.float64, copy=True)


def check_name(name: str) -> str:
    """Check a function's NAME: an ASCII identifier of at most :data:`MAX_NAME` characters."""
    if not (name.isascii() and name.isidentifier() and len(name) <= MAX_NAME):
        raise ExpressionError(f"has the NAME {_short(name)}, which is not accepted; a NAME is an identifier "
                              f"(ASCII letters, digits, _; not starting with a digit) of 1 to {MAX_NAME} "
                              "characters", subject="the function")
    return name


def parse(text: str) -> Expression:
    """Parse ``text`` into an :class:`Expression` of the language, or raise :class:`ExpressionError`."""
    if not isinstance(text, str):
        raise ExpressionError(f"is a {type(text).__name__}, not text")
    try:
        return _parse(text)
    except ExpressionError as err:
        raise ExpressionError(err.predicate, f"expression {_short(text)}") from None


def _parse(text: str) -> Expression:
    if not text.strip():
        raise ExpressionError("is empty")
    if len(text) > MAX_TEXT:
        raise ExpressionError(f"is {len(text)} characters long; at most {MAX_TEXT} are accepted")
    if not text.isascii() or not text.isprintable():
        bad = next(c for c in text if not (c.isascii() and c.isprintable()))
        raise ExpressionError(f"contains the character {bad!r}; only printable ASCII "
                              "is accepted")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        detail = getattr(err, "msg", None) or type(err).__name__
        raise ExpressionError(f"is not a formula ({detail}); write e.g. 'sin(5 * pi * x) / x'") from None
    nodes = sum(isinstance(node, ast.expr) for node in ast.walk(tree))  # numbers, names, operations, calls
    if nodes > MAX_NODES:
        raise ExpressionError(f"has {nodes} terms; at most {MAX_NODES} are accepted")
    _check(tree.body, text, 0)
    return Expression(text, tree)


def values_at(expression: str | Expression, x: np.ndarray) -> np.ndarray:
    """Values of ``expression`` at ``x`` (float64, same shape as ``x``), checked.

    Raises:
        ExpressionError: the expression is outside the language, or at some point of ``x`` its value
            is NaN, infinite or larger than :data:`MAX_ABS` in magnitude (the message names that x).
    """
    expression = expression if isinstance(expression, Expression) else parse(expression)
    subject = f"expression {_short(expression.text)}"
    x = np.asarray(x, dtype=np.float64)
    y = expression(x)
    bad = ~np.isfinite(y) | (np.abs(np.where(np.isfinite(y), y, 0.0)) > MAX_ABS)
    if y.shape != x.shape:  # cannot happen for the elementwise language; kept as a guard
        raise ExpressionError(f"gives shape {y.shape}, not one value per x", subject)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        xi, yi = float(x.ravel()[i]), float(y.ravel()[i])
        what = "NaN/inf" if not np.isfinite(yi) else f"|f| > {_number(MAX_ABS)}"
        raise ExpressionError(f"gives {what} at x = {xi:.6g} (f = {yi:.6g}; "
                              f"{int(bad.sum())} of {bad.size} points); accepted: finite real values with "
                              f"|f| <= {_number(MAX_ABS)}", subject)
    return y


# ---------------------------------------------------------------- the checker and the evaluator

def _function_of(node: ast.expr) -> str | None:
    """The whitelisted name a call refers to (``sin`` or ``np.sin``), else None."""
    if isinstance(node, ast.Name) and node.id in FUNCTIONS:
        return node.id
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "np"
            and node.attr in FUNCTIONS):
        return node.attr
    return None


def _constant_of(node: ast.expr) -> float | None:
    """The value of ``pi``, ``e``, ``np.pi`` or ``np.e``, else None."""
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "np"
            and node.attr in CONSTANTS):
        return CONSTANTS[node.attr]
    return None


def _source(node: ast.AST, text: str) -> str:
    segment = ast.get_source_segment(text.strip(), node) or type(node).__name__
    return _short(segment, 40)


def _uses_x(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == VARIABLE for n in ast.walk(node))


def _check(node: ast.AST, text: str, depth: int) -> None:
    """Refuse anything outside the language, and constant exponents beyond ``MAX_EXPONENT``."""
    if depth > MAX_DEPTH:
        raise ExpressionError(f"is nested more than {MAX_DEPTH} levels deep")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            kind = "complex number" if isinstance(node.value, complex) else type(node.value).__name__
            raise ExpressionError(f"uses {_source(node, text)}, a {kind}; only real numbers are accepted")
        try:
            value = float(node.value)
        except OverflowError:
            value = float("inf")
        if not np.isfinite(value) or abs(value) > 1e300:
            raise ExpressionError(f"uses the number {_source(node, text)}, which is too large")
        return
    if isinstance(node, ast.Name):
        if node.id != VARIABLE and node.id not in CONSTANTS:
            known = "a function that must be called" if node.id in FUNCTIONS else "which is not known"
            raise ExpressionError(f"uses the name {node.id!r}, {known}; the names accepted are x, pi, e and the "
                                  "listed functions")
        return
    if isinstance(node, ast.Attribute):
        if _constant_of(node) is None:
            raise ExpressionError(f"uses the attribute {_source(node, text)}; only np.pi, np.e "
                                  "and np.<listed function>(...) are accepted")
        return
    if isinstance(node, ast.UnaryOp):
        _check_operator(node.op, _UNARY)
        _check(node.operand, text, depth + 1)
        return
    if isinstance(node, ast.BinOp):
        _check_operator(node.op, _BINARY)
        _check(node.left, text, depth + 1)
        _check(node.right, text, depth + 1)
        if isinstance(node.op, ast.Pow) and not _uses_x(node.right):
            with np.errstate(all="ignore"):  # a constant: every earlier exponent is bounded, so this is quick
                exponent = float(np.asarray(_evaluate(node.right, np.zeros(1))).reshape(-1)[0])
            if not abs(exponent) <= MAX_EXPONENT:
                raise ExpressionError(f"uses the exponent {_source(node.right, text)} = {exponent:.6g}, out "
                                      f"of range; constant exponents are accepted within ±{_number(MAX_EXPONENT)}")
        return
    if isinstance(node, ast.Call):
        name = _function_of(node.func)
        if name is None:
            raise ExpressionError(f"calls {_source(node.func, text)}, which is not an accepted function; "
                                  f"accepted: {', '.join(FUNCTIONS)}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError(f"calls {name}(...) with keywords or *; plain arguments only are accepted")
        arity = FUNCTIONS[name][1]
        if len(node.args) != arity:
            raise ExpressionError(f"calls {name} with {len(node.args)} arguments; it takes {arity}")
        for arg in node.args:
            _check(arg, text, depth + 1)
        return
    kinds = {ast.Subscript: "a subscript", ast.Compare: "a comparison", ast.BoolOp: "and/or",
             ast.IfExp: "if/else", ast.Lambda: "a lambda", ast.ListComp: "a comprehension",
             ast.GeneratorExp: "a comprehension", ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
             ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set", ast.JoinedStr: "a string",
             ast.NamedExpr: "an assignment", ast.Starred: "a starred term", ast.Await: "await", ast.Slice: "a slice"}
    kind = kinds.get(type(node), f"a {type(node).__name__}")
    raise ExpressionError(f"uses {kind}, {_source(node, text)}; only numbers, x, pi, e, + - * / % ** and the "
                          "listed functions are accepted")


def _check_operator(op: ast.AST, allowed: dict) -> None:
    if type(op) not in allowed:
        raise ExpressionError(f"uses the operator {_SYMBOLS.get(type(op), type(op).__name__)!r}; "
                              "only + - * / % ** are accepted")


def _evaluate(node: ast.AST, x: np.ndarray) -> np.ndarray | np.float64:
    """Evaluate a checked tree with numpy float64 (the caller sets ``np.errstate``)."""
    if isinstance(node, ast.Constant):
        return np.float64(node.value)
    if isinstance(node, ast.Name):
        return x if node.id == VARIABLE else np.float64(CONSTANTS[node.id])
    if isinstance(node, ast.Attribute):
        return np.float64(_constant_of(node))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, x))
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, x), _evaluate(node.right, x))
    if isinstance(node, ast.Call):
        function = FUNCTIONS[_function_of(node.func)][0]
        return function(*(_evaluate(arg, x) for arg in node.args))
    raise ExpressionError(f"cannot evaluate {type(node).__name__}")  # unreachable after _check
