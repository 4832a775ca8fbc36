"""Path templates of ``google.api.http`` rules, parsed and matched against request paths.

The grammar is the one of google/api/http.proto::

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    FieldPath = IDENT { "." IDENT } ;
    Verb     = ":" LITERAL ;

Matching works on the raw (still percent-encoded) path, so an encoded ``%2F`` or ``%3A`` inside a
variable never splits segments or starts a verb. Values are decoded afterwards by :func:`decode_value`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()+,;=@-]+$")
_ONE_SEGMENT = "[^/]+"
_ANY_SEGMENTS = "[^/]*(?:/[^/]*)*"
_ENCODED_SLASH = re.compile("%2F", re.IGNORECASE)


class TemplateError(ValueError):
    """A path template that does not follow the grammar."""


@dataclass(frozen=True)
class Variable:
    field_path: str
    # Bound to more than one segment ("**" or several segments): "/" stays a separator when decoding.
    multi_segment: bool


@dataclass(frozen=True)
class PathTemplate:
    text: str
    variables: tuple[Variable, ...]
    verb: str
    literal_segments: int
    pattern: re.Pattern[str]

    @classmethod
    def parse(cls, text: str) -> PathTemplate:
        if not text.startswith("/"):
            raise TemplateError(f"path template {text!r} must start with '/'")
        segments_text, verb = _split_verb(text[1:], text)
        variables: list[Variable] = []
        parts: list[str] = []
        literals = 0
        for segment in _split_top_level(segments_text, text):
            if segment.startswith("{"):
                if not segment.endswith("}"):
                    raise TemplateError(f"path template {text!r}: unclosed variable in {segment!r}")
                name, _, bound = segment[1:-1].partition("=")
                if not _FIELD_PATH.match(name):
                    raise TemplateError(f"path template {text!r}: {name!r} is not a field path")
                sub_segments = _split_top_level(bound, text) if bound else ["*"]
                sub_pattern = "/".join(_plain_segment_pattern(sub, text) for sub in sub_segments)
                variables.append(Variable(name, len(sub_segments) > 1 or "**" in sub_segments))
                parts.append(f"({sub_pattern})")
            else:
                parts.append(_plain_segment_pattern(segment, text))
                literals += segment not in ("*", "**")
        verb_pattern = re.escape(":" + verb) if verb else ""
        pattern = re.compile("^/" + "/".join(parts) + verb_pattern + "$")
        return cls(text, tuple(variables), verb, literals, pattern)

    def match(self, raw_path: str) -> dict[str, str] | None:
        """Field path -> raw (percent-encoded) value of each variable, or None when the path does not match."""
        found = self.pattern.match(raw_path)
        if found is None:
            return None
        return {variable.field_path: found.group(index + 1) for index, variable in enumerate(self.variables)}

    def openapi_path(self) -> str:
        """The template in OpenAPI's notation: each variable as ``{name}``, named by :func:`parameter_name`."""
        return _VARIABLE.sub(lambda found: "{" + parameter_name(found.group(1)) + "}", self.text)


_VARIABLE = re.compile(r"\{([^=}]+)(?:=[^}]*)?\}")


def parameter_name(field_path: str) -> str:
    """The name of a path variable in OpenAPI: ``block.label`` is ``block_label``, since many tools read a
    dot inside a template expression as attribute access."""
    return field_path.replace(".", "_")


def decode_value(raw: str, variable: Variable) -> str:
    """The value of a matched variable, percent-decoded as UTF-8 (ValueError when it is not UTF-8).

    A multi-segment variable keeps ``%2F`` encoded so that it stays distinguishable from the separator.
    """
    if not variable.multi_segment:
        return unquote(raw, errors="strict")
    pieces = _ENCODED_SLASH.split(raw)
    return "%2F".join(unquote(piece, errors="strict") for piece in pieces)


def _split_verb(text: str, template: str) -> tuple[str, str]:
    depth = 0
    last_slash = -1
    colon = -1
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif depth == 0 and char == "/":
            last_slash, colon = index, -1
        elif depth == 0 and char == ":" and index > last_slash:
            colon = index
    if colon < 0:
        return text, ""
    verb = text[colon + 1 :]
    if not _LITERAL.match(verb):
        raise TemplateError(f"path template {template!r}: {verb!r} is not a verb")
    return text[:colon], verb


def _split_top_level(text: str, template: str) -> list[str]:
    segments: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "/" and depth == 0:
            segments.append(text[start:index])
            start = index + 1
        if depth not in (0, 1):
            raise TemplateError(f"path template {template!r}: unbalanced braces")
    segments.append(text[start:])
    if depth != 0 or any(not segment for segment in segments):
        raise TemplateError(f"path template {template!r}: empty segment or unbalanced braces")
    return segments


def _plain_segment_pattern(segment: str, template: str) -> str:
    if segment == "*":
        return _ONE_SEGMENT
    if segment == "**":
        return _ANY_SEGMENTS
    if not _LITERAL.match(segment):
        raise TemplateError(f"path template {template!r}: {segment!r} is not a literal segment")
    return re.escape(segment)
