"""Malformed RevMan files give typed errors naming the element, attribute or line; hostile
XML and archives are refused without being expanded."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

import bayesma as bm
from bayesma.errors import BayesmaWarning, DataError
from bayesma.revman import datapackage
from bayesma.revman.outcome import method_code

REF = Path(__file__).resolve().parents[1] / "reference" / "revman"

GOOD = """<?xml version="1.0" encoding="UTF-8"?>
<COCHRANE_REVIEW>
<STUDIES_AND_REFERENCES><STUDIES><INCLUDED_STUDIES>
<STUDY ID="STD-A" NAME="A 2001" YEAR="2001"/><STUDY ID="STD-B" NAME="B 2003" YEAR="2003"/>
</INCLUDED_STUDIES></STUDIES></STUDIES_AND_REFERENCES>
<ANALYSES_AND_DATA><COMPARISON ID="CMP-001" NO="1"><NAME>c</NAME>
<DICH_OUTCOME ID="CMP-001.01" METHOD="MH" EFFECT_MEASURE="OR" RANDOM="NO" NO="1">
<NAME>o</NAME>
<DICH_DATA STUDY_ID="STD-A" EVENTS_1="{e1}" TOTAL_1="20" EVENTS_2="5" TOTAL_2="20"/>
<DICH_DATA STUDY_ID="STD-B" EVENTS_1="4" TOTAL_1="30" EVENTS_2="8" TOTAL_2="31"/>
</DICH_OUTCOME></COMPARISON></ANALYSES_AND_DATA>
</COCHRANE_REVIEW>
"""


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_small_valid_file_reads(tmp_path):
    rv = bm.read_revman(_write(tmp_path, "ok.rm5", GOOD.format(e1=3)))
    assert list(rv.data("CMP-001.01")["study"]) == ["A 2001", "B 2003"]
    assert rv.analyse("CMP-001.01").k == 2


def test_bad_number_names_element_attribute_and_line(tmp_path):
    with pytest.raises(DataError, match=r"line 9, element DICH_DATA: attribute "
                       r"EVENTS_1='three'") as err:
        bm.read_revman(_write(tmp_path, "bad.rm5", GOOD.format(e1="three")))
    assert err.value.column == "EVENTS_1"


def test_malformed_xml_names_line(tmp_path):
    text = GOOD.format(e1=3).replace("</DICH_OUTCOME>", "")
    with pytest.raises(DataError, match=r"malformed XML at line \d+, column \d+"):
        bm.read_revman(_write(tmp_path, "broken.rm5", text))


def test_entities_and_dtds_are_refused(tmp_path):
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
            '<COCHRANE_REVIEW>&b;</COCHRANE_REVIEW>')
    with pytest.raises(DataError, match="document type declaration"):
        bm.read_revman(_write(tmp_path, "bomb.rm5", bomb))


def test_not_a_review(tmp_path):
    with pytest.raises(DataError, match="not <COCHRANE_REVIEW>"):
        bm.read_revman(_write(tmp_path, "x.rm5", "<?xml version='1.0'?><HTML/>"))
    with pytest.raises(DataError, match="no file"):
        bm.read_revman(tmp_path / "missing.rm5")


def test_unknown_outcome_lists_the_outcomes():
    rv = bm.read_revman(REF / "Fleiss1993.rm5")
    with pytest.raises(DataError, match=r"no outcome 'CMP-009.01'.*CMP-001.01, CMP-001.02"):
        rv.analyse("CMP-009.01")


def test_csv_errors_name_line_and_column(tmp_path):
    text = (REF / "Fleiss1993_CR.csv").read_text(encoding="utf-8-sig").splitlines()
    cells = text[3].split(",")
    cells[8] = "many"  # Events 1 of the first study row (file line 4)
    text[3] = ",".join(cells)
    with pytest.raises(DataError, match=r"line 4, column 'Events 1': 'many' is not a number"):
        bm.read_revman(_write(tmp_path, "bad.csv", "\n".join(text)))
    with pytest.raises(DataError, match="missing column"):
        bm.read_revman(_write(tmp_path, "other.csv", "a,b\n1,2\n"))


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_bombs_and_non_packages_are_refused(tmp_path, monkeypatch):
    big = _zip({"x-data-rows.csv": b"0" * 3_000_000})  # ratio ~1000: refused unread
    with pytest.raises(DataError, match="possible zip bomb"):
        bm.read_revman(_write(tmp_path, "bomb.zip", big))
    monkeypatch.setattr(datapackage, "MAX_MEMBERS", 3)
    many = _zip({f"f{i}.txt": b"x" for i in range(5)})
    with pytest.raises(DataError, match="5 members"):
        bm.read_revman(_write(tmp_path, "many.zip", many))
    with pytest.raises(DataError, match="not a RevMan data package"):
        bm.read_revman(_write(tmp_path, "empty.zip", _zip({"../../etc/passwd": b"x"})))
    with pytest.raises(DataError, match="not a readable zip"):
        bm.read_revman(_write(tmp_path, "junk.zip", b"PK\x03\x04 not really"))


def test_csv_subgroup_rows_and_thousands_separators(tmp_path):
    # RevMan's export marks a subgroup's row with the data type (R meta's read.rm5 rule)
    lines = (REF / "Fleiss1993_CR.csv").read_text(encoding="utf-8-sig").splitlines()
    head, comp, outcome, studies = lines[0], lines[1], lines[2], lines[3:10]
    sub = ["1,1,{g},Group {g},DIC,MH,OR,Fixed" + "," * 29]
    rows = [head, comp, outcome, sub[0].format(g=1)]
    rows += [s.replace("1,1,0,", "1,1,1,", 1) for s in studies[:3]]
    rows += [sub[0].format(g=2)]
    rows += [s.replace("1,1,0,", "1,1,2,", 1) for s in studies[3:]]
    rows[-1] = rows[-1].replace(",1570,0,0,8587,", ',"1,570",0,0,"8,587",')  # ISIS-2
    path = _write(tmp_path, "subgroups.csv", "\n".join(rows))
    rv = bm.read_revman(path)
    table = rv.data("CMP-001.01")
    assert list(rv.outcomes["subgroups"].iloc[0]) == ["Group 1", "Group 2"]
    assert list(table["subgroup"]) == ["Group 1"] * 3 + ["Group 2"] * 4
    assert list(table["ai"])[-1] == 1570 and list(table["n1i"])[-1] == 8587
    res = rv.analyse("CMP-001.01")
    assert list(res.subgroups["k"]) == [3, 4] and res.k == 7


def test_subtotals_only_outcomes_store_no_overall_numbers(tmp_path):
    text = GOOD.format(e1=3).replace('RANDOM="NO"', 'RANDOM="NO" TOTALS="NO" CHI2="0.0" '
                                     'EFFECT_SIZE="0.0" CI_START="0.0" CI_END="0.0"')
    rv = bm.read_revman(_write(tmp_path, "subtotals.rm5", text))
    assert all(v != v for v in rv.reported("CMP-001.01").values())  # all NaN
    assert rv.check().empty


def _package(method: str, e1: int) -> bytes:
    """A minimal RevMan Web data package: one dichotomous outcome, two studies."""
    settings = ("Analysis group,Analysis number,Analysis name,Data type,Statistical method,"
                f"Effect measure,Analysis model\n1,2,Death,Dichotomous,{method},Risk Ratio,"
                "Fixed effect\n")
    rows = ("Analysis group,Analysis number,Study,Experimental cases,Experimental N,"
            f"Control cases,Control N\n1,2,A 2001,{e1},20,5,20\n1,2,B 2003,4,30,8,31\n")
    return _zip({"CD1/CD1-overall-estimates-and-settings.csv": settings.encode(),
                 "CD1/CD1-data-rows.csv": rows.encode()})


def _csv(method: str = "MH", events_1: str = "2128") -> str:
    lines = (REF / "Fleiss1993_CR.csv").read_text(encoding="utf-8-sig").splitlines()
    lines[2] = lines[2].replace(",DIC,MH,OR,", f",DIC,{method},OR,", 1)  # outcome CMP-001.01
    cells = lines[3].split(",")  # its first study (file line 4)
    cells[8] = events_1
    lines[3] = ",".join(cells)
    return "\n".join(lines)


def test_unknown_pooling_method_names_outcome_and_text(tmp_path):
    # any text but RevMan's methods used to be pooled by inverse variance without a word
    cases = [
        ("m.rm5", GOOD.format(e1=3).replace('METHOD="MH"', 'METHOD="Bayes"'),
         r"m\.rm5 \(CMP-001\.01, line 7\), outcome 'o', attribute METHOD: unknown "
         r"statistical method 'Bayes'", "METHOD"),
        ("m.csv", _csv(method="Mantel"),
         r"line 3, outcome CMP-001\.01 \('Aspirin for Preventing Death after Myocardial "
         r"Infarction'\), column 'Statistical Method': unknown statistical method 'Mantel'",
         "Statistical Method"),
        ("m.zip", _package("Random", 3),
         r"line 2, outcome CMP-001\.02 \('Death'\), column 'Statistical method': unknown "
         r"statistical method 'Random'", "Statistical method"),
    ]
    for name, text, match, column in cases:
        with pytest.raises(DataError, match=match) as err:
            bm.read_revman(_write(tmp_path, name, text))
        assert err.value.column == column
    # RevMan's spellings are all still read
    for text, code in (("MH", "MH"), ("Mantel-Haenszel", "MH"), ("iv", "IV"),
                       ("Inverse variance", "IV"), ("Inverse", "IV"), ("Peto", "PETO"),
                       ("EXP_O_E_VAR", "PETO"), ("", "IV"), (None, "IV")):
        assert method_code(text, "OR") == code
    assert method_code("IV", "PETO") == "PETO" and method_code("", "HR", "PETO") == "PETO"
    rv = bm.read_revman(_write(tmp_path, "ok.zip", _package("Mantel-Haenszel", 3)))
    assert rv.outcomes.iloc[0]["method"] == "MH"


def test_impossible_counts_name_study_and_outcome(tmp_path):
    rm5 = r"x\.rm5 \(CMP-001\.01, line 7\): outcome 'o': "
    with pytest.raises(DataError, match=rm5 + r"more events than participants in the "
                       r"experimental group of study 'A 2001' \(30 events of 20\)") as err:
        bm.read_revman(_write(tmp_path, "x.rm5", GOOD.format(e1=30)))
    assert (err.value.column, err.value.rows) == ("ai", [0])
    with pytest.raises(DataError, match=rm5 + r"negative events in the experimental group "
                       r"of study 'A 2001' \(events -2\)"):
        bm.read_revman(_write(tmp_path, "x.rm5", GOOD.format(e1=-2)))
    negative_total = GOOD.format(e1=3).replace('TOTAL_2="31"', 'TOTAL_2="-31"')
    with pytest.raises(DataError, match=r"negative total in the control group of study "
                       r"'B 2003' \(total -31\)") as err:
        bm.read_revman(_write(tmp_path, "x.rm5", negative_total))
    assert err.value.column == "n2i"
    with pytest.raises(DataError, match=r"line 3: outcome CMP-001\.01 \('Aspirin .*'\): more "
                       r"events than participants in the experimental group of study "
                       r"'MRC-1' \(99999 events of 615\)"):
        bm.read_revman(_write(tmp_path, "x.csv", _csv(events_1="99999")))
    with pytest.raises(DataError, match=r"line 2: outcome CMP-001\.02 \('Death'\): more "
                       r"events than participants in the experimental group of study "
                       r"'A 2001' \(21 events of 20\)"):
        bm.read_revman(_write(tmp_path, "x.zip", _package("MH", 21)))


def test_negative_sd_or_total_of_continuous_data_names_study(tmp_path):
    # a negative SD or total is impossible (an SD of 0 stays RevMan's "not estimable")
    rows = [("A", 10.0, 2.0, 20, 12.0, 2.5, 21), ("B", 11.0, -1.5, 30, 12.5, 2.0, 28)]
    cont = "".join(f'<CONT_DATA STUDY_ID="STD-{s}" MEAN_1="{m1}" SD_1="{s1}" TOTAL_1="{n1}" '
                   f'MEAN_2="{m2}" SD_2="{s2}" TOTAL_2="{n2}"/>'
                   for s, m1, s1, n1, m2, s2, n2 in rows)
    studies = "".join(f'<STUDY ID="STD-{s}" NAME="{s} 2000" YEAR="2000"/>' for s in "AB")
    text = ('<?xml version="1.0"?><COCHRANE_REVIEW><STUDIES_AND_REFERENCES><STUDIES>'
            f'<INCLUDED_STUDIES>{studies}</INCLUDED_STUDIES></STUDIES></STUDIES_AND_REFERENCES>'
            '<ANALYSES_AND_DATA><COMPARISON ID="CMP-001" NO="1"><NAME>c</NAME>'
            '<CONT_OUTCOME ID="CMP-001.01" EFFECT_MEASURE="MD" RANDOM="NO"><NAME>pain</NAME>'
            f'{cont}</CONT_OUTCOME></COMPARISON></ANALYSES_AND_DATA></COCHRANE_REVIEW>')
    with pytest.raises(DataError, match=r"outcome 'pain': negative SD in the experimental "
                       r"group of study 'B 2000' \(SD -1\.5\)") as err:
        bm.read_revman(_write(tmp_path, "c.rm5", text))
    assert (err.value.column, err.value.rows) == ("sd1i", [1])
    review = bm.read_revman(_write(tmp_path, "ok.rm5", text.replace('SD_1="-1.5"',
                                                                     'SD_1="1.5"')))
    assert len(review.data("CMP-001.01")) == 2


def test_a_method_revman_does_not_offer_for_the_data_type_warns_and_pools_by_iv(tmp_path):
    # Mantel-Haenszel on continuous data used to be pooled by inverse variance silently
    lines = (REF / "Fleiss1993_CR.csv").read_text(encoding="utf-8-sig").splitlines()
    assert ",CON,IV,MD," in lines[10]
    lines[10] = lines[10].replace(",CON,IV,MD,", ",CON,MH,MD,", 1)
    with pytest.warns(BayesmaWarning, match=r"line 11, outcome CMP-001\.02 .*RevMan pools "
                      r"continuous data by inverse variance, not by 'MH'"):
        rv = bm.read_revman(_write(tmp_path, "con.csv", "\n".join(lines)))
    assert rv.outcomes.set_index("id").loc["CMP-001.02", "method"] == "IV"
    # the pooled numbers are RevMan's inverse-variance ones, as with METHOD IV
    res = rv.analyse("CMP-001.02")
    ref = bm.read_revman(REF / "Fleiss1993_CR.csv").analyse("CMP-001.02")
    assert res.method == "IV" and (res.estimate, res.se) == (ref.estimate, ref.se)
    assert rv.check().query("id == 'CMP-001.02'")["ok"].all()
    # the types RevMan offers each method for are unchanged
    assert method_code("MH", "OR", data_type="dichotomous") == "MH"
    assert method_code("Peto", "HR", data_type="O-E") == "PETO"
    with pytest.warns(BayesmaWarning, match="generic inverse variance data"):
        assert method_code("Peto", "RR", data_type="generic inverse variance") == "IV"
