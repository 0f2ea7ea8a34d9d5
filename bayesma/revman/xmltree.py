"""A small, safe XML tree for RevMan files: expat without DTDs or entities, with line numbers.

RevMan 5 files (``.rm5``) are plain XML without a document type declaration. We parse them
with :mod:`xml.parsers.expat` and refuse any DTD or entity declaration (the defence
``defusedxml`` gives against entity expansion and external entities), so a file is only
ever read as data. Every element keeps the line it starts on, for error messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.parsers import expat

from bayesma.errors import DataError

__all__ = ["Node", "parse_xml"]


@dataclass
class Node:
    """One XML element: tag, attributes, children, text and the line it starts on."""

    tag: str
    attrib: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The element's own text (not its children's), stripped."""
        return "".join(self.parts).strip()

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrib.get(name, default)

    def find(self, tag: str) -> Node | None:
        """The first child with ``tag``."""
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[Node]:
        """The children with ``tag``."""
        return [c for c in self.children if c.tag == tag]

    def findtext(self, tag: str, default: str = "") -> str:
        node = self.find(tag)
        return default if node is None else node.text

    def iter(self, tag: str) -> Iterator[Node]:
        """This element and its descendants with ``tag``, in document order."""
        stack = [self]
        while stack:
            node = stack.pop()
            if node.tag == tag:
                yield node
            stack.extend(reversed(node.children))


def _refuse(what: str, source: str):
    def handler(*args) -> None:
        raise DataError(f"{source}: the XML holds {what}, which RevMan files never do; "
                        f"refusing to read it (no DTDs or entities are processed)")
    return handler


def parse_xml(data: bytes, *, source: str = "RevMan file") -> Node:
    """Parse ``data`` into a :class:`Node` tree, refusing DTDs and entity declarations.

    Raises
    ------
    DataError
        Malformed XML (naming the line and column), or a DTD / entity declaration.
    """
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse("a document type declaration", source)
    parser.EntityDeclHandler = _refuse("an entity declaration", source)
    parser.ExternalEntityRefHandler = _refuse("an external entity reference", source)
    root: list[Node] = []
    stack: list[Node] = []

    def start(tag: str, attrib: dict[str, str]) -> None:
        node = Node(tag, attrib, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        if stack:
            stack[-1].parts.append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except expat.ExpatError as err:
        raise DataError(f"{source}: malformed XML at line {err.lineno}, column {err.offset}: "
                        f"{expat.ErrorString(err.code)}") from None
    if not root:
        raise DataError(f"{source}: the file holds no XML element")
    return root[0]
