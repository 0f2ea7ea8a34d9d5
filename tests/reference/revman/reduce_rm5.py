"""Reduce a RevMan 5 file to its data: the review's prose, references and people are dropped.

Kept: the root element's attributes (review id, DOI, RevMan version), the title, every
``STUDY`` element's attributes (id, name, year; no references), the risk-of-bias items
(``QUALITY_ITEMS``, judgements without support text) and ``ANALYSES_AND_DATA`` unchanged.
Used on the Cochrane reviews under this folder (see README.md); run as
``python reduce_rm5.py in.rm5 out.rm5``.
"""

import sys
import xml.etree.ElementTree as ET  # trusted input (files we chose), dev tool only


def reduce(src: str, dst: str) -> None:
    root = ET.parse(src).getroot()
    out = ET.Element(root.tag, {k: v for k, v in root.attrib.items() if k != "DESCRIPTION"})
    cover = ET.SubElement(out, "COVER_SHEET")
    ET.SubElement(cover, "TITLE").text = root.findtext(".//COVER_SHEET/TITLE")
    sar = ET.SubElement(out, "STUDIES_AND_REFERENCES")
    studies = ET.SubElement(sar, "STUDIES")
    inc = ET.SubElement(studies, "INCLUDED_STUDIES")
    for st in root.iterfind(".//INCLUDED_STUDIES/STUDY"):
        ET.SubElement(inc, "STUDY", {k: st.get(k) for k in ("ID", "NAME", "YEAR") if st.get(k)})
    items = root.find(".//QUALITY_ITEMS")
    if items is not None:
        for entry in items.iter("QUALITY_ITEM_DATA_ENTRY"):
            for child in list(entry):
                entry.remove(child)
        for item in items.iter("QUALITY_ITEM"):
            for desc in item.findall("DESCRIPTION"):
                item.remove(desc)
        chars = ET.SubElement(out, "CHARACTERISTICS_OF_STUDIES")
        chars.append(items)
    out.append(root.find(".//ANALYSES_AND_DATA"))
    for node in out.iter():
        node.attrib.pop("MODIFIED_BY", None)
        for footnote in node.findall("FOOTNOTES"):
            node.remove(footnote)
    ET.indent(out, space="")
    ET.ElementTree(out).write(dst, encoding="UTF-8", xml_declaration=True)


if __name__ == "__main__":
    reduce(sys.argv[1], sys.argv[2])
