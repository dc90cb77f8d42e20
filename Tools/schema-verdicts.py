#!/usr/bin/env python3
"""Verdicts of the definitions JSON Schema on definitions files, read the way Tally's loader reads them.

    python3 Tools/schema-verdicts.py Schemas/definitions.schema.json FILE...

Prints one JSON object per line and file, in argument order:

    {"file": "Examples/cards.yaml", "valid": true, "errors": []}

Exit status 0 when every file got a verdict (valid or not), 2 on bad usage or a bad schema, 3 when
jsonschema or PyYAML (with its libyaml binding) is missing (run Tools/setup.sh).
Tests/TallyTests/DefinitionsSchemaTests.swift compares these verdicts with the loader's on every fixture.

YAML is read as the Swift loader (Yams 6 over libyaml) reads it:
- with libyaml's parser, as Yams embeds it (PyYAML must have its libyaml binding: its own
  pure-Python scanner reads some flow collections differently);
- plain scalars resolve with Yams' default rules (YAML 1.1: `yes/no/on/off/true/false` are
  booleans, `0o17`, `1e5` and `2024-01-01` are not strings, `~` and empty are null); quoted scalars
  and `!!str` are strings; anything that is not a string is kept as a non-string value, so
  `type: string` rejects it as the loader does;
- mapping keys are always their raw text (a flag's `on:` key is "on"); a non-scalar key or a
  key that appears twice makes the file invalid; `<<` is an ordinary key (no merging);
- aliases stand for their anchored node; an anchor may be redefined (the later one wins), and a
  node cannot contain an alias to itself;
- the non-specific tag `!` makes a scalar a string (`! 42` is "42").
JSON files are read by the same YAML reader, as the loader reads them.

Regular expressions in the schema are ECMA-262 (what editors use): `$` matches only at the very
end of the text. Python's `re` also lets `$` match before a final newline; the schema's patterns
end in `(?!\\n)$`, which means the same in both, and `pattern` is checked here with `$` read as
`\\Z` as well.
"""

import json
import re
import sys

try:
    import jsonschema
    import yaml
    from jsonschema import Draft202012Validator, ValidationError, validators
    from yaml.composer import Composer, ComposerError
    from yaml.events import AliasEvent, ScalarEvent, SequenceStartEvent
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode
    from yaml.resolver import BaseResolver
except ImportError as error:  # pragma: no cover - environment problem
    print(f"schema-verdicts: {error}: run Tools/setup.sh (needs python3 jsonschema and PyYAML)", file=sys.stderr)
    sys.exit(3)
try:
    # PyYAML's pure-Python scanner differs from libyaml (e.g. `{ a: string?, b: int }`, tabs in
    # flow collections), so verdicts would not be the loader's: require the libyaml binding.
    from yaml.cyaml import CParser
except ImportError as error:  # pragma: no cover - environment problem
    print(
        f"schema-verdicts: PyYAML is installed without libyaml ({error}); Tally's loader reads YAML with libyaml, "
        "so these verdicts need it too: reinstall PyYAML with its libyaml binding (the PyPI wheels and Debian's "
        "python3-yaml have it), e.g. via Tools/setup.sh",
        file=sys.stderr,
    )
    sys.exit(3)

STR = "tag:yaml.org,2002:str"

# Yams 6 `Resolver.default`, rule for rule and in its order (Sources/Yams/Resolver.swift).
YAMS_RULES = [
    ("tag:yaml.org,2002:bool",
     r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"),
    ("tag:yaml.org,2002:int",
     r"^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
     r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
     r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$"),
    ("tag:yaml.org,2002:timestamp",
     r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
     r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?"
     r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$"),
    ("tag:yaml.org,2002:value", r"^(?:=)$"),
]


class YamsResolver(BaseResolver):
    """Resolves plain scalars with Yams' rules (no first-character shortcuts: every rule is tried, in order)."""


for _tag, _pattern in YAMS_RULES:
    YamsResolver.add_implicit_resolver(_tag, re.compile(_pattern), [None])
YamsResolver.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(YAMS_RULES[4][1]), [""])

class YamsComposer(Composer):
    """PyYAML's composer, changed where Yams composes differently: an anchor is registered once its
    node is composed (so a node cannot contain itself) and may be redefined (the later one wins);
    the non-specific tag `!` makes a scalar a string."""

    def compose_node(self, parent, index):
        if self.check_event(AliasEvent):
            event = self.get_event()
            if event.anchor not in self.anchors:
                raise ComposerError(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
            return self.anchors[event.anchor]
        anchor = self.peek_event().anchor
        if self.check_event(ScalarEvent):
            node = self.compose_scalar_node(None)
        elif self.check_event(SequenceStartEvent):
            node = self.compose_sequence_node(None)
        else:
            node = self.compose_mapping_node(None)
        if anchor is not None:
            self.anchors[anchor] = node
        return node

    def compose_scalar_node(self, anchor):
        event = self.get_event()
        if event.tag == "!":
            tag = STR
        elif event.tag is None:
            tag = self.resolve(ScalarNode, event.value, event.implicit)
        else:
            tag = event.tag
        return ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)


class TallyYAMLComposer(YamsComposer, CParser, YamsResolver):
    """libyaml's parser (as in Yams) feeding the composer above."""

    def __init__(self, stream):
        CParser.__init__(self, stream)
        YamsComposer.__init__(self)
        YamsResolver.__init__(self)


class NonString:
    """A scalar YAML does not read as a string (a timestamp, `<<`, `=`, a custom tag, an odd number)."""

    def __init__(self, tag, text):
        self.tag, self.text = tag, text

    def __repr__(self):
        return f"{self.text!r} (YAML {self.tag.rsplit(':', 1)[-1]})"

    def __eq__(self, other):
        return isinstance(other, NonString) and (self.tag, self.text) == (other.tag, other.text)

    def __hash__(self):
        return hash((self.tag, self.text))


class LoadProblems(Exception):
    def __init__(self, problems):
        super().__init__("; ".join(problems))
        self.problems = problems


def where(node):
    mark = node.start_mark
    return f"line {mark.line + 1} column {mark.column + 1}"


def scalar_value(node):
    text = node.value
    if node.tag == STR:
        return text
    if node.tag == "tag:yaml.org,2002:bool":
        return text.lower() in ("yes", "true", "on")
    if node.tag == "tag:yaml.org,2002:null":
        return None
    if node.tag == "tag:yaml.org,2002:int" and re.fullmatch(r"[-+]?(?:0|[1-9][0-9]*)", text):
        return int(text)
    if node.tag == "tag:yaml.org,2002:float" and re.fullmatch(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?", text):
        return float(text)
    return NonString(node.tag, text)


def to_python(node, path, problems):
    """The node as JSON-like Python values; mapping problems (duplicate or non-scalar keys) go to `problems`."""
    if isinstance(node, ScalarNode):
        return scalar_value(node)
    if isinstance(node, SequenceNode):
        return [to_python(item, f"{path}[{index}]", problems) for index, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        result = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                problems.append(f"{path or '<root>'} ({where(key_node)}): keys must be plain names")
                continue
            key = key_node.value  # raw text, whatever it resolves to
            key_path = f"{path}.{key}" if path else key
            if key in result:
                problems.append(f"{key_path} ({where(key_node)}): duplicate key '{key}'")
                continue
            result[key] = to_python(value_node, key_path, problems)
        return result
    raise TypeError(f"unexpected node {node!r}")  # pragma: no cover


def load(path):
    """The document in `path` as the loader reads it; raises LoadProblems if it does not read."""
    try:
        with open(path, "rb") as file:
            text = file.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LoadProblems([f"cannot read the file ({error})"])
    try:
        composer = TallyYAMLComposer(text)
        try:
            root = composer.get_single_node()
        finally:
            composer.dispose()
    except yaml.YAMLError as error:
        raise LoadProblems([f"not valid YAML: {' '.join(str(error).split())}"])
    if root is None:
        raise LoadProblems(["the file is empty"])
    problems = []
    document = to_python(root, "", problems)
    if problems:
        raise LoadProblems(problems)
    return document


def ecma_regex(pattern):
    """`pattern` for Python's re with ECMA-262's `$` (end of text only)."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif in_class:
            in_class = char != "]"
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
        else:
            out.append(r"\Z" if char == "$" else char)
    return re.compile("".join(out))


_compiled = {}


def ecma_pattern(validator, pattern, instance, schema):
    if not validator.is_type(instance, "string"):
        return
    regex = _compiled.get(pattern) or _compiled.setdefault(pattern, ecma_regex(pattern))
    if not regex.search(instance):
        expected = schema.get("description")  # says it in words; the regex is in the schema
        yield ValidationError(f"{instance!r} is not valid: {expected}" if expected else f"{instance!r} does not match {pattern!r}")


TallyValidator = validators.extend(Draft202012Validator, {"pattern": ecma_pattern})


def dotted(path):
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


def describe(error):
    # Name the innermost failures of oneOf/anyOf branches too: they say what was expected.
    message = f"{dotted(error.absolute_path)}: {error.message}"
    if error.context:
        inner = sorted({f"{dotted(e.absolute_path)}: {e.message}" for e in error.context})
        message += " [" + "; ".join(inner[:4]) + ("; ..." if len(inner) > 4 else "") + "]"
    return message


def verdict(validator, path):
    try:
        document = load(path)
    except LoadProblems as problems:
        return {"file": path, "valid": False, "errors": problems.problems}
    errors = sorted(validator.iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return {"file": path, "valid": not errors, "errors": [describe(e) for e in errors]}


def main(argv):
    if len(argv) < 2:
        print("usage: schema-verdicts.py SCHEMA.json FILE...", file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding="utf-8") as file:
            schema = json.load(file)
        TallyValidator.check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as error:
        print(f"schema-verdicts: bad schema {argv[0]}: {error}", file=sys.stderr)
        return 2
    validator = TallyValidator(schema)
    for path in argv[1:]:
        print(json.dumps(verdict(validator, path), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
