"""Every normaliser: the spellings it accepts, and the values it refuses (flagged, not dropped)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contraband.data import normalise as norm


def s(*values):
    return pd.Series(values, dtype="object")


def test_hs_code_strips_dots_spaces_and_keeps_leading_zeros():
    p = norm.hs_code(s("3810.10", "6907 21 00", "0101.21", "8505-11-0070", "12", "abc", None))
    assert p.values.tolist()[:4] == ["381010", "69072100", "010121", "85051100" + "70"]
    assert p.bad.tolist() == [False, False, False, False, True, True, False]
    assert pd.isna(p.values[4]) and pd.isna(p.values[6])


def test_hs_codes_of_7_or_9_digits_lost_a_leading_zero_and_are_refused_with_that_reason():
    p = norm.hs_code(s("3810100", "381010000", "38101000", "38101", "38101000000"))
    assert p.bad.tolist() == [True, True, False, True, True]
    assert p.reason[0].startswith("HS code has 7 digits: an 8-digit code that lost its leading zero")
    assert p.reason[1].startswith("HS code has 9 digits: a 10-digit code that lost its leading zero")
    assert p.reason[3] == p.reason[4] == "HS code must have 6, 8 or 10 digits"


def test_hs_code_pad_restores_one_zero_lost_by_numeric_storage_never_more():
    p = norm.hs_code(s("10129", "10129.0", "381010", "3810100", "381010000", "69072100"), pad=True)
    assert p.values.tolist() == ["010129", "010129", "381010", "03810100", "0381010000", "69072100"]
    assert not p.bad.any()


def test_country_accepts_alpha2_alpha3_names_and_aliases():
    p = norm.country(s("CN", "tha", "Thailand", "Viet Nam", "Vietnam", "USA", "Korea, Republic of", "MEX", "ZZ"))
    assert p.values.tolist() == ["CN", "TH", "TH", "VN", "VN", "US", "KR", "MX", "ZZ"]
    assert not p.bad.any()


def test_country_flags_unknown_names_without_guessing():
    p = norm.country(s("Narnia", "XX", "", None))
    assert p.bad.tolist() == [True, True, False, False]
    assert pd.isna(p.values).all()


def test_transit_country_list_normalises_every_member():
    p = norm.country_list(s("Thailand; Mexico", "CN,HK", "VNM", "TH;Narnia"))
    assert p.values.tolist()[:3] == ["TH;MX", "CN;HK", "VN"]
    assert p.bad.tolist() == [False, False, False, True]


def test_number_reads_thousands_separators_and_flags_text():
    p = norm.number(s("1,234.5", "12", "-3", "x", None))
    assert p.values.tolist()[:3] == [1234.5, 12.0, -3.0]
    assert p.bad.tolist() == [False, False, False, True, False]


@pytest.mark.parametrize("unit,factor", [("kg", 1.0), ("lb", 0.45359237), ("t", 1000.0), ("g", 0.001), ("LBS", 0.45359237)])
def test_weight_units_convert_to_kg(unit, factor):
    p = norm.weight_kg(s("10", "2.5"), unit)
    np.testing.assert_allclose(p.values, [10 * factor, 2.5 * factor])


def test_weight_unit_per_row_and_unknown_unit_flagged():
    p = norm.weight_kg(s("10", "10", "10"), pd.Series(["lb", "t", "stone"]))
    np.testing.assert_allclose(p.values[:2], [4.5359237, 10000.0])
    assert p.bad.tolist() == [False, False, True]
    with pytest.raises(ValueError, match="unknown weight unit"):
        norm.weight_kg(s("1"), "stone")


def test_money_converts_at_the_callers_rate():
    p = norm.money_usd(s("1300000", "100"), "KRW", {"KRW": 1 / 1300})
    np.testing.assert_allclose(p.values, [1000.0, 100 / 1300])
    per_row = norm.money_usd(s("100", "100", "100"), pd.Series(["EUR", "USD", "GBP"]), {"EUR": 1.1})
    np.testing.assert_allclose(per_row.values[:2], [110.0, 100.0])
    assert per_row.bad.tolist() == [False, False, True]
    with pytest.raises(ValueError, match="no USD rate given for currency JPY"):
        norm.money_usd(s("1"), "JPY", {})


def test_transport_mode_aliases_and_source_codes():
    p = norm.transport_mode(s("Ocean", "AIR", "express", "truck", "boat"))
    assert p.values.tolist()[:4] == ["sea", "air", "courier", "road"]
    assert p.bad.tolist() == [False, False, False, False, True]
    coded = norm.transport_mode(s("10", "40", "90"), {"10": "sea", "40": "air", "90": ""})
    assert coded.values.tolist()[:2] == ["sea", "air"] and pd.isna(coded.values[2])
    assert not coded.bad.any()  # an explicit "unknown" code is missing, not an error


def test_quantity_unit_aliases():
    p = norm.quantity_unit(s("kgs", "LTR", "pce", "MTK", "m2", "bags"))
    assert p.values.tolist()[:5] == ["KG", "L", "PCS", "M2", "M2"]
    assert p.bad.tolist() == [False] * 5 + [True]


def test_dates_iso_by_default_and_source_format():
    p = norm.date(s("2025-04-04", "2025-13-01", None))
    assert p.values[0] == np.datetime64("2025-04-04")
    assert p.bad.tolist() == [False, True, False]
    q = norm.date(s("04/05/2025"), "%d/%m/%Y")
    assert q.values[0] == np.datetime64("2025-05-04")


def test_flags_and_codes():
    f = norm.flag(s("1", "0", "yes", "n", "2", None))
    assert f.values.tolist()[:4] == [1, 0, 1, 0]
    assert f.bad.tolist() == [False, False, False, False, True, False]
    c = norm.code(s("fob", "XYZ"), ("FOB", "CIF"))
    assert c.values[0] == "FOB" and c.bad.tolist() == [False, True]


def test_hs_code_from_floats_loses_the_decimal_and_only_ascii_digits_pass():
    p = norm.hs_code(s("381010.0", 381010.0, "3810100000.00", "٣٨١٠١٠", "３８１０１０"))
    assert p.values.tolist()[:3] == ["381010", "381010", "3810100000"]
    assert p.bad.tolist() == [False, False, False, True, True]
    assert norm.hs_code(pd.Series([381010.0, np.nan])).values.tolist()[0] == "381010"


def test_number_refuses_non_finite_values():
    p = norm.number(s("inf", "-Infinity", "1e400", "nan", "12"))
    assert p.bad.tolist() == [True, True, True, True, False] and p.reason == "not a finite number"
    assert np.isnan(p.values[:4]).all()
    assert norm.number(pd.Series([np.inf, 1.0])).bad.tolist() == [True, False]


def test_dates_with_offsets_keep_their_local_date_and_partial_dates_are_refused():
    p = norm.date(s("2024-11-01T23:00+05:00", "2024-11-01T23:00-08:00", "2025-05-01T10:00:00", "2024", "2024-11"))
    assert p.values[:3].tolist() == [np.datetime64("2024-11-01", "s").item()] * 2 + [np.datetime64("2025-05-01", "s").item()]
    assert p.bad.tolist() == [False, False, False, True, True] and p.reason == "not a date (YYYY-MM-DD)"
    q = norm.date(s("01/11/2024 23:00 +0500", "01/11/2024 23:00 +0100"), "%d/%m/%Y %H:%M %z")
    assert q.values.tolist() == [np.datetime64("2024-11-01", "s").item()] * 2 and str(q.values.dtype).startswith("datetime64")


@pytest.mark.parametrize("n", [3, 200])  # one declaration's few cells, a manifest's column
def test_identifiers_lose_the_spurious_point_zero_of_excel_numbers_only(n):
    cells = [" 12345.0 ", 678.0, "A.0", "1.05", "D-1", "", None]
    p = norm.identifier(s(*(cells * n)[:max(n, len(cells))]))
    expected = ["12345", "678", "A.0", "1.05", "D-1", None, None]
    assert [None if pd.isna(v) else v for v in p.values[:len(cells)]] == expected[:len(p.values)]
    assert not p.bad.any()


@pytest.mark.parametrize("n", [1, 3, 200])  # one declaration, a few cells, a manifest's column
def test_identifiers_have_one_spelling_and_look_alikes_are_refused_with_the_character_named(n):
    """Issue 40: a full-width or compatibility spelling is the same id (NFKC); an id holding an
    invisible or control character is refused, naming it, rather than accepted beside the id it
    imitates."""
    cells = ["\uff24CL000185826", "DCL000185826\u200b", "DCL\u00a0185826", "\u2060DCL1", "DCL\x001", "DCL1\u202e",
             "\ufeffDCL2", "DCL\u00ad3", "ＤＣＬ４", "DCL5"]
    expected = ["DCL000185826", None, "DCL 185826", None, None, None, None, None, "DCL4", "DCL5"]
    named = {1: "U+200B ZERO WIDTH SPACE", 3: "U+2060 WORD JOINER", 4: "U+0000", 5: "U+202E RIGHT-TO-LEFT OVERRIDE",
             6: "U+FEFF ZERO WIDTH NO-BREAK SPACE", 7: "U+00AD SOFT HYPHEN"}
    columns = [[c] for c in cells] if n == 1 else [(cells * n)[:max(n, len(cells))]]  # one by one, or together
    for column in columns:
        p = norm.identifier(s(*column))
        for k, v in enumerate(column):
            i = cells.index(v)
            assert (None if pd.isna(p.values[k]) else p.values[k]) == expected[i], (v, p.values[k])
            assert bool(p.bad[k]) == (i in named), v
            if i in named:
                assert p.reason[k].startswith("identifier holds an invisible or control character") \
                       and named[i] in p.reason[k], p.reason[k]


@settings(max_examples=400, deadline=None)
@given(st.text(min_size=0, max_size=30))
def test_any_text_is_one_spelled_identifier_or_refused_naming_a_character_it_holds(raw):
    """Generated text of any characters: an identifier read back has no invisible or control
    character, is already in its one spelling (reading it again changes nothing), and equals its
    NFKC form stripped; a refusal names a character the NFKC form holds."""
    import unicodedata

    value, problem = norm.identifier_text(raw)
    spelt = unicodedata.normalize("NFKC", raw)
    if problem is None:
        assert value == (spelt.strip() or None)
        if value is not None:
            assert not any(unicodedata.category(c) in norm._INVISIBLE for c in value)
            assert norm.identifier_text(value) == (value, None)
    else:
        assert value is None
        code = problem.split("(U+", 1)[1].split(" ", 1)[0].rstrip(")")
        assert chr(int(code, 16)) in spelt
