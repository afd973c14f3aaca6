"""Reading JSON and YAML that may be damaged or hostile, within bounds checked before parsing.

A file's size, its nesting depth and (YAML) the number of nodes its aliases expand to are
checked first, so a crafted file is a one-line UserError, never a RecursionError, a hang on
"billion laughs" aliases or a blown memory. Text must be UTF-8. JSON's NaN and Infinity are
refused: gankit never writes them (metrics rows write null), so they only come from an edit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from gankit.errors import UserError

MAX_DEPTH = 32  # gankit's own files nest at most 4 deep (a checkpoint's optimizer groups)
MAX_NODES = 100_000  # YAML nodes after alias expansion; a config file has about 60
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


def read_text(path: str | Path, what: str, fix: str, max_bytes: int) -> str:
    """The UTF-8 text of a file of at most max_bytes; what: how errors name it."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise UserError(f"cannot read {what}: {e.strerror or e}; check the path") from None
    if len(raw) > max_bytes:
        raise UserError(f"{what} is larger than the {_size(max_bytes)} gankit reads; {fix}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{what} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                        f"{fix}") from None


def json_depth(text: str) -> int:
    """How deep the brackets of a JSON text nest (strings skipped), without parsing it."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number gankit writes")


def loads_json(text: str, what: str, fix: str, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads within bounds; a one-line UserError naming `what` and saying `fix` otherwise."""
    if len(text) > max_bytes:
        raise UserError(f"{what} is larger than the {_size(max_bytes)} gankit reads; {fix}")
    depth = json_depth(text)
    if depth > max_depth:
        raise UserError(f"{what} nests {depth} levels deep (at most {max_depth}); {fix}")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:
        reason = (str(e).splitlines() or [type(e).__name__])[0][:80]
        raise UserError(f"{what} is not valid JSON ({reason}); {fix}") from None


def loads_yaml(text: str, what: str, fix: str, max_bytes: int, max_depth: int = MAX_DEPTH,
               max_nodes: int = MAX_NODES) -> Any:
    """yaml.safe_load within bounds: the events are walked first, counting what each alias
    expands to, so neither deep nesting nor exponential aliases reach the constructor."""
    if len(text) > max_bytes:
        raise UserError(f"{what} is larger than the {_size(max_bytes)} gankit reads; {fix}")
    try:
        nodes, sizes, open_ = 0, {}, []  # open_: (anchor, nodes before it) of each open collection
        for ev in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(ev, yaml.AliasEvent):
                nodes += sizes.get(ev.anchor, 1)
            elif isinstance(ev, yaml.ScalarEvent):
                nodes += 1
                if ev.anchor:
                    sizes[ev.anchor] = 1
            elif isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                open_.append((ev.anchor, nodes))
                nodes += 1
                if len(open_) > max_depth:
                    raise UserError(f"{what} nests deeper than {max_depth} levels; {fix}")
            elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                anchor, before = open_.pop()
                if anchor:
                    sizes[anchor] = nodes - before
            if nodes > max_nodes:
                raise UserError(f"{what} expands to more than {max_nodes} values (aliases repeat "
                                f"their anchor's values); {fix}")
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as e:
        reason = (str(e).splitlines() or [type(e).__name__])[0][:80]
        raise UserError(f"{what} is not valid YAML ({reason}); {fix}") from None


def shown(value: Any, limit: int = 60) -> str:
    """repr(value) cut to `limit` characters, for error messages about values read from files."""
    text = repr(value) if not isinstance(value, (list, dict)) or _small(value) else f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _small(value: Any, budget: int = 50) -> bool:
    """Whether a list or dict holds at most `budget` values in all (so its repr is cheap)."""
    stack, seen = [value], 0
    while stack:
        v = stack.pop()
        seen += 1
        if seen > budget:
            return False
        if isinstance(v, dict):
            stack += list(v.values())[:budget]
        elif isinstance(v, list):
            stack += v[:budget]
    return True


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 else f"{n // 2**10} KiB"
