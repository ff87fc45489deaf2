"""A calculator a model can use safely: arithmetic parsed with `ast` and evaluated by hand.

No eval, no names but a short list of math functions and constants, no attribute access,
and limits on sizes so `9**9**9` is an error instead of a hung process.
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any, Callable, Dict

MAX_LENGTH = 1000
MAX_EXPONENT = 10_000
MAX_DIGITS = 4000

_BINARY: Dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: Dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf}


def _factorial(n: Any) -> int:
    if not isinstance(n, int) or n < 0 or n > 1000:
        raise ValueError("factorial needs a whole number from 0 to 1000")
    return math.factorial(n)


_FUNCTIONS: Dict[str, Callable[..., Any]] = {
    "abs": abs, "round": round, "min": min, "max": max, "sqrt": math.sqrt,
    "exp": math.exp, "log": math.log, "log2": math.log2, "log10": math.log10,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos,
    "atan": math.atan, "atan2": math.atan2, "sinh": math.sinh, "cosh": math.cosh,
    "tanh": math.tanh, "degrees": math.degrees, "radians": math.radians, "floor": math.floor,
    "ceil": math.ceil, "hypot": math.hypot, "gcd": math.gcd, "lcm": math.lcm,
    "factorial": _factorial,
}


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression; the result as a short string."""
    if len(expression) > MAX_LENGTH:
        raise ValueError(f"expression longer than {MAX_LENGTH} characters")
    text = expression.replace("^", "**").replace("×", "*").replace("÷", "/")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ValueError(f"not an arithmetic expression: {getattr(exc, 'msg', exc)}")
    return _format(_eval(tree.body))


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise ValueError(f"unknown name {node.id!r} (constants: {', '.join(_CONSTANTS)})")
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _checked(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.Call):
        return _call(node)
    raise ValueError(f"{type(node).__name__} is not allowed; use numbers, + - * / // % ** "
                     "and functions such as sqrt, log, sin")


def _call(node: ast.Call) -> Any:
    known = ", ".join(sorted(_FUNCTIONS))
    if not isinstance(node.func, ast.Name):
        raise ValueError(f"only these functions can be called, by name: {known}")
    if node.func.id not in _FUNCTIONS:
        raise ValueError(f"unknown function {node.func.id!r} (known: {known})")
    if node.keywords:
        raise ValueError("functions take positional arguments only")
    args = [_eval(a) for a in node.args]
    return _checked(_FUNCTIONS[node.func.id](*args))


def _check_power(base: Any, exponent: Any) -> None:
    if abs(exponent) > MAX_EXPONENT and abs(base) not in (0, 1):
        raise ValueError(f"exponent {exponent} is too large (at most {MAX_EXPONENT})")


def _checked(value: Any) -> Any:
    if isinstance(value, complex):
        raise ValueError("the result is not a real number")
    if isinstance(value, int) and value.bit_length() > MAX_DIGITS * 3.33:
        raise ValueError(f"result has more than {MAX_DIGITS} digits")
    return value


def _format(value: Any) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return f"{value:.15g}"
    return str(value)
