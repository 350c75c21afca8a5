"""Parse untrusted XML: no DTDs, no entities, no network, bounded size."""
from __future__ import annotations

import re

from lxml import etree

MAX_XML_BYTES = 5 * 1024 * 1024
_DECLARATION = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


class UnsafeXml(ValueError):
    pass


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True)


def parse_xml(data: bytes) -> etree._Element:
    """Parse XML bytes or raise UnsafeXml / ValueError with a readable message."""
    if len(data) > MAX_XML_BYTES:
        raise UnsafeXml(f"file is larger than {MAX_XML_BYTES // (1024 * 1024)} MiB")
    if _DECLARATION.search(data):
        raise UnsafeXml("DOCTYPE and ENTITY declarations are not allowed")
    try:
        tree = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    if tree.getroottree().docinfo.doctype:
        raise UnsafeXml("DOCTYPE declarations are not allowed")
    return tree
