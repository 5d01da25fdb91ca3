"""The command lines' value types: what each accepts and the usage error for the rest."""

import argparse

import pytest

from genjax import argtypes


@pytest.mark.parametrize(
    "parse,text,value",
    [
        (argtypes.count, "3", 3),
        (argtypes.floats, "0,0.5,-1e-2", [0.0, 0.5, -0.01]),
        (argtypes.floats, "2,", [2.0]),
        (argtypes.ints, "1,12", [1, 12]),
        (argtypes.option, "eta=0.5", ("eta", 0.5)),
        (argtypes.option, "order=[1, 2]", ("order", [1, 2])),
        (argtypes.option, "solver=heun", ("solver", "heun")),
    ],
)
def test_accepted_values(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize(
    "parse,text,message",
    [
        (argtypes.count, "0", "whole number >= 1"),
        (argtypes.count, "-2", "whole number >= 1"),
        (argtypes.count, "1.5", "whole number >= 1"),
        (argtypes.floats, "", "comma-separated numbers"),
        (argtypes.floats, "1,x", "comma-separated numbers"),
        (argtypes.ints, "1,2.5", "comma-separated whole numbers"),
        (argtypes.ints, ",", "comma-separated whole numbers"),
        (argtypes.option, "eta", "KEY=VALUE"),
        (argtypes.option, "1eta=2", "KEY=VALUE"),
    ],
)
def test_refused_values_are_usage_errors(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)
