"""Worst-case pattern matching on 10 KB values: the linear matcher beside the old regex one.

Each case is a pattern the validator still accepts (wildcard complexity at most 10, the limit
EventBridge applies) chosen to be as slow as possible for a wildcard matcher: repeated
characters after stars, near-misses for every segment, a 2000-character segment, several
wildcards on one field, and the SNS ``Number`` attribute text that the old number check
backtracked on. For every case the script prints the time of one ``matches`` call on the 10 KB
value (min/median/max of 3 runs, each run the mean of ``--calls`` calls), then the old approach
on the same input: wildcards compiled to a backtracking regular expression (``.*`` per star,
``re.fullmatch``) and the old number pattern. The old approach runs in a child process killed
after ``--timeout`` seconds, reported as "over N s"; on smaller values where it finishes, its
growth shows why.

A second table times what else an adversary controls: validating the costliest patterns
(construction, which explores event-ruler's state sets for the complexity limit) and matching an
event whose thousands of dotted keys under one name must merge into one object.

Run: ``uv run python benchmarks/pattern_worst_case.py [--size BYTES] [--timeout S]``.
Target: every case under 1 ms with the linear matcher.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventmesh.patterns import FilterPolicy, Pattern

SEGMENT = "".join(chr(0x4E00 + index) for index in range(2000))  # 2000 distinct characters
NUMBER_TEXT = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"  # the old SNS Number check


@dataclass(frozen=True)
class Case:
    name: str
    wildcards: tuple[str, ...]  # empty: the SNS Number case
    value: Callable[[int], str]  # the subject, given a size in characters
    negate: bool = False  # anything-but {"wildcard": ...}

    def matcher(self) -> Callable[[str], bool]:
        """The new engine: one compiled pattern, as a bus rule or a mapping filter holds it."""
        if not self.wildcards:
            policy = FilterPolicy({"n": [{"numeric": [">", 0]}]})
            return lambda value: policy.matches({"n": {"Type": "Number", "Value": value}})
        operators: list[Any] = [{"wildcard": text} for text in self.wildcards]
        if self.negate:
            operators = [{"anything-but": {"wildcard": text}} for text in self.wildcards]
        pattern = Pattern({"detail": {"key": operators}})
        return lambda value: pattern.matches({"detail": {"key": value}})


def repeat(unit: str) -> Callable[[int], str]:
    return lambda size: (unit * (size // len(unit) + 1))[:size]


CASES = [
    Case("*a*a*a*a*b on aaa...", ("*a*a*a*a*b",), repeat("a")),
    Case("*a*a*a*a*b on bbb... (each find scans)", ("*a*a*a*a*b",), repeat("b")),
    Case("*ab*ab*ab*ab*c on abab...", ("*ab*ab*ab*ab*c",), repeat("ab")),
    Case("*ab*ab*ab*ab*c on aaa...c (each find scans)", ("*ab*ab*ab*ab*c",), repeat("a")),
    Case("*aaaab*aaaab on aaaac...", ("*aaaab*aaaab",), repeat("aaaac")),
    Case("*a*b*c*d*e*f*g*h*i on abc...h", ("*a*b*c*d*e*f*g*h*i",), repeat("abcdefgh")),
    Case("*<2000 chars>* on near misses", ("*" + SEGMENT + "*",), repeat(SEGMENT[:-1] + "z")),
    Case(
        "3 ARN wildcards on one field",
        tuple(f"*:stack/{name}/*" for name in ("Api", "Data", "Web")),
        repeat(":stack/Ap:stack/Dat:stack/We"),
    ),
    Case("anything-but *a*a*a*a*b", ("*a*a*a*a*b",), repeat("a"), negate=True),
    Case("SNS Number attribute, digits + x", (), lambda size: "1" * (size - 1) + "x"),
]

PRINTABLE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'()+,-./:;<=>?"


def star_pairs(firsts: int) -> dict[str, Any]:
    """An anything-but list of ``4 * firsts`` wildcards "*xy": every state set stays large."""
    texts = [
        f"*{first}{PRINTABLE[(index + step) % len(PRINTABLE)]}"
        for index, first in enumerate(PRINTABLE[:firsts], start=1)
        for step in range(4)
    ]
    return {"x": [{"anything-but": {"wildcard": texts}}]}


OTHER_CASES: list[tuple[str, Callable[[], object]]] = [
    ("validate: 4000-char wildcard, no star", lambda: Pattern({"x": [{"wildcard": "ab" * 2000}]})),
    (
        "validate: *<2000 chars>*<2000 chars>*",
        lambda: Pattern({"x": [{"wildcard": f"*{SEGMENT}*{SEGMENT}*"}]}),
    ),
    ("validate: anything-but list of 160 *xy (accepted)", lambda: Pattern(star_pairs(40))),
    ("validate: anything-but list of 320 *xy (refused)", lambda: refused(star_pairs(80))),
    (
        "validate: 1000 $or combinations beside 280 fields and a wildcard (4 KB)",
        lambda: Pattern(wide_or(280)),
    ),
    ("match: 20,000 dotted keys under one name (290 KB)", lambda: DOTTED(DOTTED_EVENT)),
    ("match: 20-level pattern, a dotted key at each level", lambda: DEEP(DEEP_EVENT)),
]
DOTTED = Pattern({"a": {"missing": ["1"]}}).matches
DOTTED_EVENT = {f"a.k{index}": index for index in range(20_000)}


def nested(depth: int, inner: dict[str, Any], beside: dict[str, Any]) -> dict[str, Any]:
    for _ in range(depth):
        inner = {"a": inner, **beside}
    return inner


DEEP = Pattern(nested(20, {"x": ["1"]}, {})).matches
DEEP_EVENT = nested(20, {"x": "2", "b.c": 1}, {"b.c": 1})


def wide_or(fields: int) -> dict[str, Any]:
    """Three $or of 10 branches (1000 rules to expand) and many plain fields."""
    pattern: dict[str, Any] = {
        f"o{index}": {"$or": [{"v": [str(value)]} for value in range(10)]} for index in range(3)
    }
    pattern.update({f"f{index}": ["1"] for index in range(fields)})
    pattern["x"] = [{"wildcard": "*.png"}]
    return pattern


def refused(pattern: dict[str, Any]) -> None:
    try:
        Pattern(pattern)
    except ValueError:
        return
    raise AssertionError("expected the pattern to be refused")


BASELINE_CHILD = r"""
import json, re, sys, time
spec = json.loads(sys.stdin.read())
value = spec["value"]
if spec["wildcards"]:
    def compile_wildcard(text):
        parts, index = [], 0
        while index < len(text):
            if text[index] == "\\":
                parts.append(re.escape(text[index + 1])); index += 2
            elif text[index] == "*":
                parts.append(".*"); index += 1
            else:
                parts.append(re.escape(text[index])); index += 1
        return re.compile("".join(parts), re.DOTALL).fullmatch
    tests = [compile_wildcard(text) for text in spec["wildcards"]]
    match = lambda v: any(test(v) is not None for test in tests)
else:
    number = re.compile(spec["number"]).fullmatch
    match = lambda v: number(v.strip()) is not None
started = time.perf_counter()
match(value)
print(time.perf_counter() - started)
"""


def time_new(case: Case, size: int, calls: int) -> list[float]:
    match, value = case.matcher(), case.value(size)
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(calls):
            match(value)
        runs.append((time.perf_counter() - started) / calls)
    return runs


def time_old(case: Case, size: int, timeout: float) -> float | None:
    """One old-style match in a child process; ``None`` if it ran past ``timeout``."""
    spec = {"wildcards": case.wildcards, "value": case.value(size), "number": NUMBER_TEXT}
    try:
        done = subprocess.run(
            [sys.executable, "-c", BASELINE_CHILD],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    return float(done.stdout)


def show(seconds: float | None, timeout: float) -> str:
    if seconds is None:
        return f"over {timeout:g} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10 * 1024, help="value size in characters")
    parser.add_argument("--calls", type=int, default=20, help="matches per timed run")
    parser.add_argument("--timeout", type=float, default=10.0, help="limit for one old match")
    parser.add_argument(
        "--small",
        type=int,
        nargs="*",
        default=[100, 200, 400],
        help="smaller sizes where the old approach is also timed",
    )
    args = parser.parse_args()

    header = f"| case | new, {args.size} chars (min / median / max) | old, {args.size} chars |"
    small = " | ".join(f"old, {size} chars" for size in args.small)
    print(header[:-1] + (" | " + small + " |" if small else " |"))
    print("|" + "---|" * (3 + len(args.small)))
    worst = 0.0
    for case in CASES:
        runs = time_new(case, args.size, args.calls)
        worst = max(worst, max(runs))
        new = " / ".join(show(run, args.timeout) for run in sorted(runs))
        old = show(time_old(case, args.size, args.timeout), args.timeout)
        smaller = [show(time_old(case, size, args.timeout), args.timeout) for size in args.small]
        print(f"| {case.name} | {new} | {old} | " + " | ".join(smaller) + (" |" if smaller else ""))
    verdict = "under" if worst < 1e-3 else "OVER"
    print(f"\nworst new case: {show(worst, args.timeout)} ({verdict} the 1 ms target)")

    print("\n| other case | one call (min / median / max of 3) |\n|---|---|")
    for name, call in OTHER_CASES:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            call()
            runs.append(time.perf_counter() - started)
        print(f"| {name} | " + " / ".join(show(run, args.timeout) for run in sorted(runs)) + " |")


if __name__ == "__main__":
    main()
