"""Output values to XML elements and XML elements to input values, by shape: shared by the
query protocol's answers and rest-xml (S3). Members go under their ``locationName``; lists
are ``<Name><member>..</member></Name>`` (the member's own name when it has one) or, when
flattened, repeated ``<Name>`` elements; maps are ``<entry><key/><value/></entry>`` (or
flattened); timestamps ISO 8601; blobs base64; booleans ``true``/``false``.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from botocore.model import ListShape, MapShape, Shape, StructureShape

from eventmesh.aws._values import TypeProblem, parse_text_scalar, text_of_scalar

__all__ = ["from_xml", "to_xml", "xml_bytes"]

ISO = "iso8601"


def _name(shape: Shape, default: str) -> str:
    return str(shape.serialization.get("name", default))


def _flattened(shape: Shape) -> bool:
    return bool(shape.serialization.get("flattened"))


def to_xml(parent: ET.Element, shape: Shape, value: Any, name: str) -> None:
    """Append ``value`` as element(s) named ``name`` under ``parent``."""
    if value is None:
        return
    if isinstance(shape, ListShape):
        member = shape.member
        if _flattened(shape):
            item_name = _name(member, name)
            for item in value:
                to_xml(parent, member, item, item_name)
        else:
            container = ET.SubElement(parent, name)
            item_name = _name(member, "member")
            for item in value:
                to_xml(container, member, item, item_name)
        return
    if isinstance(shape, MapShape):
        key_name = _name(shape.key, "key")
        value_name = _name(shape.value, "value")
        if _flattened(shape):
            for key, item in value.items():
                entry = ET.SubElement(parent, name)
                to_xml(entry, shape.key, key, key_name)
                to_xml(entry, shape.value, item, value_name)
        else:
            container = ET.SubElement(parent, name)
            for key, item in value.items():
                entry = ET.SubElement(container, "entry")
                to_xml(entry, shape.key, key, key_name)
                to_xml(entry, shape.value, item, value_name)
        return
    element = ET.SubElement(parent, name)
    if isinstance(shape, StructureShape):
        write_members(element, shape, value)
        return
    element.text = text_of_scalar(shape, value, ISO)


def write_members(element: ET.Element, shape: StructureShape, value: Any) -> None:
    """The structure's members (body members only: not headers, status or URI labels)."""
    if not isinstance(value, dict):
        return
    for member_name, member in shape.members.items():
        item = value.get(member_name)
        if item is None or member.serialization.get("location"):
            continue
        if member.serialization.get("xmlAttribute"):
            element.set(_name(member, member_name), text_of_scalar(member, item, ISO))
            continue
        to_xml(element, member, item, _name(member, member_name))


def xml_bytes(root: ET.Element) -> bytes:
    """The document with its XML declaration."""
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + document


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def from_xml(shape: Shape, element: ET.Element, where: str = "") -> Any:
    """``element`` (the element of a value of ``shape``) to an input value."""
    label = where or shape.name
    if isinstance(shape, StructureShape):
        result: dict[str, Any] = {}
        for member_name, member in shape.members.items():
            if member.serialization.get("location"):
                continue
            wire = _name(member, member_name)
            if member.serialization.get("xmlAttribute"):
                for key, text in element.attrib.items():
                    if _local(key) == wire:
                        result[member_name] = parse_text_scalar(member, text, wire, ISO)
                continue
            found = _children(element, wire)
            if not found:
                continue
            path = f"{label}.{member_name}"
            if isinstance(member, ListShape) and _flattened(member):
                result[member_name] = [from_xml(member.member, item, path) for item in found]
            elif isinstance(member, MapShape) and _flattened(member):
                result[member_name] = _map_entries(member, found, path)
            else:
                result[member_name] = from_xml(member, found[0], path)
        return result
    if isinstance(shape, ListShape):
        item_name = _name(shape.member, "member")
        return [from_xml(shape.member, item, label) for item in _children(element, item_name)]
    if isinstance(shape, MapShape):
        return _map_entries(shape, _children(element, "entry"), label)
    text = element.text or ""
    if shape.type_name != "string":
        text = text.strip()
    try:
        return parse_text_scalar(shape, text, label, ISO)
    except TypeProblem:
        raise


def _map_entries(shape: MapShape, entries: list[ET.Element], where: str) -> dict[str, Any]:
    key_name = _name(shape.key, "key")
    value_name = _name(shape.value, "value")
    result: dict[str, Any] = {}
    for entry in entries:
        keys = _children(entry, key_name)
        values = _children(entry, value_name)
        if keys:
            result[keys[0].text or ""] = from_xml(shape.value, values[0], where) if values else None
    return result
