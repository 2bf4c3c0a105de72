"""Every setting's domain, declared once: its type, range or choices, and how it is spelt on the
command line. The CLI builds its flags from these declarations, and the recipes, `run_search`,
`train` and `create_model` check their values with the same ones, before any file is touched:

    BATCH_SIZE = Setting("batch_size", int, "images per step", low=1, high=65536)
    BATCH_SIZE.check("0")    # SettingError: batch_size (--batch-size) = '0': must be a whole number from 1 to 65536

A `Domain` is a group of settings (a search recipe's fields, a training run's arguments, a network's
keywords) plus the relations between them (equal-length stage lists, w_lr_min <= w_lr, ...). An
error names the setting, the value and what is allowed, in one line.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import yaml

from .errors import ZooError, closest

Choices = Union[Sequence[str], Callable[[], Sequence[str]], None]
Relation = Callable[[Mapping[str, Any]], Optional[str]]
_NONE_WORDS = ("none", "null", "off")


class SettingError(ZooError, ValueError):
    """A setting's value outside its domain."""


def _number(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


@dataclass(frozen=True)
class Setting:
    """One setting. `low`/`high` bound numbers (and each item of a list) inclusively unless
    `low_open`/`high_open`; `choices` (or a function giving them, for registries) bound strings;
    `optional` accepts None (the caller's default); `many` takes a list, comma-separated on the
    command line; `even` asks for an even whole number."""

    name: str
    kind: type
    help: str = ""
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False
    choices: Choices = None
    optional: bool = False
    many: bool = False
    even: bool = False
    metavar: Optional[str] = None
    cli: bool = True  # a command-line flag exists (errors then name it too)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def choice_list(self) -> tuple[str, ...]:
        c = self.choices() if callable(self.choices) else self.choices
        return tuple(c or ())

    def allowed(self) -> str:
        """What the domain allows, in words."""
        if self.kind is dict:
            text = "a mapping of keyword: value"
        elif self.kind is bool:
            text = "true or false"
        elif self.kind is str:
            text = f"one of {', '.join(self.choice_list())}" if self.choices is not None else "a name"
        else:
            noun = ("an even whole number" if self.even else "a whole number") if self.kind is int else "a number"
            lo, hi = (None if self.low is None else _number(self.low)), (None if self.high is None else _number(self.high))
            if lo is not None and hi is not None:
                text = {(False, False): f"{noun} from {lo} to {hi}", (True, False): f"{noun} above {lo}, up to {hi}",
                        (False, True): f"{noun} from {lo}, below {hi}",
                        (True, True): f"{noun} strictly between {lo} and {hi}"}[(self.low_open, self.high_open)]
            elif lo is not None:
                text = f"{noun} {'above' if self.low_open else 'of at least'} {lo}"
            elif hi is not None:
                text = f"{noun} {'below' if self.high_open else 'of at most'} {hi}"
            else:
                text = noun
        if self.many:
            text = f"a comma-separated list, each {text}"
        if self.optional:
            text += ", or none"
        return text

    def error(self, value: Any, problem: str = "", where: str = "") -> SettingError:
        shown = repr(value) if not isinstance(value, str) or len(value) < 80 else repr(value[:77] + "...")
        head = f"{where}: " if where else ""
        detail = f"{problem}; allowed: {self.allowed()}" if problem else f"must be {self.allowed()}"
        label = f"{self.name} ({self.flag})" if self.cli else self.name
        return SettingError(f"{head}{label} = {shown}: {detail}")

    def check(self, value: Any, where: str = "") -> Any:
        """The value in its canonical type (tuples for lists), or a SettingError."""
        if value is None or (self.optional and isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
            if self.optional:
                return None
            raise self.error(value, "a value is required", where)
        if self.many:
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)):
                raise self.error(value, "not a list", where)
            items = [i.strip() if isinstance(i, str) else i for i in items]
            items = [i for i in items if i != ""]
            return tuple(self._one(v, value, where) for v in items)
        return self._one(value, value, where)

    def _one(self, v: Any, whole: Any, where: str) -> Any:
        if self.kind is dict:
            if isinstance(v, (list, tuple)) and all(isinstance(i, str) for i in v):
                return self._pairs(v, whole, where)
            if not isinstance(v, Mapping):
                raise self.error(whole, "not a mapping", where)
            return dict(v)
        if self.kind is bool:
            if isinstance(v, bool):
                return v
            if isinstance(v, str) and v.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
                return v.strip().lower() in ("true", "yes", "1")
            raise self.error(whole, "not true or false", where)
        if self.kind is str:
            if not isinstance(v, str):
                raise self.error(whole, f"not a name ({type(v).__name__})", where)
            options = self.choice_list()
            if self.choices is not None and v not in options:
                raise self.error(whole, closest(v, options), where)
            return v
        number = self._parse_number(v, whole, where)
        if (self.low is not None and (number < self.low or (self.low_open and number == self.low))) or \
                (self.high is not None and (number > self.high or (self.high_open and number == self.high))):
            raise self.error(whole, "", where)
        if self.even and number % 2:
            raise self.error(whole, "not even", where)
        return number

    def _parse_number(self, v: Any, whole: Any, where: str):
        noun = "a whole number" if self.kind is int else "a number"
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise self.error(whole, f"not {noun}", where)
        x = v
        if isinstance(v, str):
            text = v.strip()
            try:
                x = int(text) if self.kind is int and text.lstrip("+-").isdigit() else float(text)
            except ValueError:
                raise self.error(whole, f"not {noun}", where) from None
        if isinstance(x, float):
            if not math.isfinite(x):
                raise self.error(whole, "not finite", where)
            if self.kind is int:
                if not x.is_integer():
                    raise self.error(whole, "not a whole number", where)
                x = int(x)
        return x if self.kind is int else float(x)

    def _pairs(self, items: Sequence[str], whole: Any, where: str) -> dict[str, Any]:
        """KEY=VALUE texts (a mapping flag given on the command line), each value read as a YAML scalar."""
        out: dict[str, Any] = {}
        for item in items:
            key, sep, text = item.partition("=")
            if not sep or not key.strip():
                raise self.error(whole, f"{item!r} is not KEY=VALUE", where)
            try:
                value = yaml.safe_load(text) if text.strip() else None
            except yaml.YAMLError:
                value = text
            if isinstance(value, (dict, list)):
                raise self.error(whole, f"{item!r}: give one plain value per KEY=VALUE", where)
            out[key.strip()] = value
        return out

    def add_to(self, parser: Union[argparse.ArgumentParser, argparse._ArgumentGroup], help: str = "",
               dest: Optional[str] = None, default: Any = None) -> None:
        """A command-line flag taking the raw text; the value is checked by `check` (so the command
        line and the Python API give the same error). A mapping is a repeatable KEY=VALUE flag."""
        if self.kind is dict:
            parser.add_argument(self.flag, dest=dest or self.name, default=default, action="append",
                                metavar="KEY=VALUE", help=f"{help or self.help} (repeatable KEY=VALUE; updates the "
                                                          "recipe's own options key by key)")
            return
        if self.kind is bool and not self.many:
            parser.add_argument(self.flag, dest=dest or self.name, action=argparse.BooleanOptionalAction,
                                default=default, help=help or self.help)
            return
        metavar = self.metavar or self.name.upper()
        parser.add_argument(self.flag, dest=dest or self.name, default=default, metavar=metavar,
                            help=f"{help or self.help} ({self.allowed()})")


@dataclass(frozen=True)
class Domain:
    """Settings checked together, with the relations between them."""

    what: str
    settings: Sequence[Setting]
    relations: Sequence[Relation] = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "_by_name", {s.name: s for s in self.settings})

    def __getitem__(self, name: str) -> Setting:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def check(self, values: Mapping[str, Any], where: str = "") -> dict[str, Any]:
        """Each value in its setting's domain (unknown names refused with the closest ones); the
        relations are checked by `check_relations` on the complete set of values."""
        out = {}
        for key, value in values.items():
            if key not in self._by_name:
                raise SettingError(f"{where + ': ' if where else ''}{key!r} is not a {self.what} setting: "
                                   f"{closest(str(key), self._by_name)}")
            out[key] = self._by_name[key].check(value, where)
        return out

    def check_relations(self, values: Mapping[str, Any], where: str = "") -> None:
        for relation in self.relations:
            problem = relation(values)
            if problem:
                raise SettingError(f"{where + ': ' if where else ''}{problem}")

    def add_to(self, parser, names: Optional[Iterable[str]] = None, dest_prefix: str = "") -> None:
        for name in (names if names is not None else self.names):
            self._by_name[name].add_to(parser, dest=dest_prefix + name)

    def from_args(self, args: argparse.Namespace, names: Optional[Iterable[str]] = None,
                  dest_prefix: str = "") -> dict[str, Any]:
        """The flags the user gave (raw text), by setting name."""
        names = names if names is not None else self.names
        return {n: getattr(args, dest_prefix + n) for n in names if getattr(args, dest_prefix + n, None) is not None}


# --------------------------------------------------------------------------- shared settings
# Bounds are generous (about 10x any published setting) but finite, so that a typo cannot ask for
# a network or a run this machine can never finish.
MAX_LAYERS = 256
MAX_CHANNELS = 1024
LAYERS = Setting("layers", int, "cells in the network", low=1, high=MAX_LAYERS, metavar="N")
CHANNELS = Setting("channels", int, "initial channels C", low=1, high=MAX_CHANNELS, metavar="C")
BATCH_SIZE = Setting("batch_size", int, "images per step", low=1, high=65536, metavar="N")
EPOCHS = Setting("epochs", int, "epochs", low=1, high=100_000, metavar="N")
SEED = Setting("seed", int, "random seed", low=0, high=2 ** 32 - 1, metavar="S")
THREADS = Setting("threads", int, "torch CPU threads", low=1, high=1024, optional=True, metavar="N")
WORKERS = Setting("workers", int, "data loader processes", low=0, high=256, optional=True, metavar="N")
LEARNING_RATE = Setting("lr", float, "learning rate", low=0, high=10, low_open=True, metavar="LR")

NETWORK = Domain("network", (
    LAYERS, CHANNELS,
    Setting("num_classes", int, "classifier outputs (0: no classifier)", low=0, high=1_000_000, cli=False),
    Setting("in_chans", int, "input channels", low=1, high=64, cli=False),
    Setting("drop_path_rate", float, "drop path probability", low=0, high=1, high_open=True, optional=True, cli=False),
    Setting("drop_rate", float, "dropout before the classifier", low=0, high=1, high_open=True, cli=False),
    Setting("stem_multiplier", int, "stem width in units of C", low=1, high=16, optional=True, cli=False),
    Setting("auxiliary", bool, "build the auxiliary head", optional=True, cli=False),
))
