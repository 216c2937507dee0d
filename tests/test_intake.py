"""Manifest intake: messy exports are read, one bad record never costs the others, and a file
that cannot be read gets one clear sentence."""

from __future__ import annotations

import gzip
import io
import time
import zipfile
import zlib

import numpy as np
import pandas as pd
import pytest

from contraband.data.intake import IntakeError, Limits, _slow_csv, read_manifest
from contraband.data.load import load_declarations
from test_contract import manifest


def texts(**overrides) -> pd.DataFrame:
    return manifest(goods_description=["pâte à souder", "ceramic tiles", "bottled water", "NdFeB magnets",
                                       "nickel powder"], **overrides)


def csv_text(frame: pd.DataFrame, sep: str = ",", newline: str = "\n") -> str:
    return frame.to_csv(index=False, sep=sep, lineterminator=newline)


@pytest.mark.parametrize("sep,encoding,newline,bom", [
    (";", "cp1252", "\r\n", False),
    ("\t", "utf-16", "\n", False),  # Python writes the BOM
    ("|", "utf-8", "\r\n", True),
    (",", "latin-1", "\n", False),
])
def test_delimiters_encodings_and_line_ends_give_the_same_declarations(tmp_path, sep, encoding, newline, bom):
    expected = load_declarations(texts()).declarations
    data = csv_text(texts(), sep, newline).encode(encoding)
    path = tmp_path / "m.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    result = load_declarations(path)
    assert not len(result.rejected)
    pd.testing.assert_frame_equal(result.declarations, expected)
    gz = tmp_path / "m.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    pd.testing.assert_frame_equal(load_declarations(gz).declarations, expected)


def test_korean_cp949_is_detected_or_taken_as_given(tmp_path):
    frame = manifest(goods_description=["솔더 페이스트 (무연)", "세라믹 타일", "생수", "네오디뮴 자석", "니켈 분말"])
    path = tmp_path / "kr.csv"
    path.write_bytes(csv_text(frame).encode("cp949"))
    assert load_declarations(path).declarations["goods_description"].tolist() == frame["goods_description"].tolist()
    assert load_declarations(path, encoding="cp949").declarations["goods_description"].iloc[0] == "솔더 페이스트 (무연)"
    with pytest.raises(IntakeError, match="unknown text encoding 'klingon'"):
        load_declarations(path, encoding="klingon")


def messy_file(tmp_path):
    rows = csv_text(texts()).splitlines()
    header, good = rows[0], rows[1:]
    width = header.count(",") + 1
    lines = [
        header,
        good[0],                                              # line 2: valid
        good[1] + ",surplus",                                 # line 3: too many fields
        ",".join(good[2].split(",")[:5]),                     # line 4: too few
        good[3].replace("NdFeB magnets", "NdFeB\x00magnets"),  # line 5: NUL byte
        "",                                                   # line 6: blank, not a record
        good[4].replace("nickel powder", "x" * 500),          # line 7: oversize field
        good[0].replace("A1", "B1").replace("pâte à souder", '"pâte\nà souder"'),  # lines 8-9: quoted, two lines
    ]
    body = ("\n".join(lines) + "\n").encode("utf-8")
    body += good[1].replace("A2", "B2").replace("ceramic", "c\xe9ramic").encode("cp1252") + b"\n"  # line 10: bad UTF-8
    body += good[2].replace("A3", "B3").encode() + b"\n"           # line 11: valid
    path = tmp_path / "messy.csv"
    path.write_bytes(body)
    return path, width


def test_bad_records_are_rejected_alone_with_line_reason_id_and_raw_values(tmp_path):
    path, width = messy_file(tmp_path)
    result = load_declarations(path, limits=Limits(max_field_chars=200))
    assert result.declarations["declaration_id"].tolist() == ["A1", "B1", "B3"]
    assert result.line_of(result.declarations.index).tolist() == [2, 8, 11]
    assert result.declarations.loc[result.declarations["declaration_id"] == "B1", "goods_description"].iloc[0] \
        == "pâte\nà souder"
    bad = result.rejected_rows()
    assert bad["line"].tolist() == [3, 4, 5, 7, 10]
    assert bad["declaration_id"].tolist() == ["A2", "A3", "A4", "A5", "B2"]
    problems = dict(zip(bad["line"], bad["problems"]))
    assert problems[3] == f"{width + 1} fields where the header has {width} (delimiter ',')"
    assert problems[4] == f"5 fields where the header has {width} (delimiter ',')"
    assert "goods_description 'NdFeB\\\\0magnets': contains a NUL byte" in problems[5]
    assert "field of 500 characters (the limit is 200)" in problems[7]
    assert problems[10] == "bytes that are not utf-8 text"
    # the raw cells come back under the file's own columns, to fix and resend
    assert bad.loc[bad["line"] == 10, "goods_description"].iloc[0] == "c\ufffdramic tiles"
    assert bad.loc[bad["line"] == 3, "hs_code"].iloc[0] == "690721"
    assert set(result.rejected["line"]) == {3, 4, 5, 7, 10}


def test_a_stray_quote_costs_its_own_line_only(tmp_path):
    rows = csv_text(texts()).splitlines()
    rows[2] = rows[2].replace(",ceramic tiles,", ',"ceramic tiles,')  # opens a quote that never closes
    rows[4] = rows[4].replace("NdFeB magnets", 'NdFeB 5" magnets')  # a quote inside a field is text
    path = tmp_path / "quote.csv"
    path.write_text("\n".join(rows) + "\n")
    result = load_declarations(path)
    assert result.declarations["declaration_id"].tolist() == ["A1", "A3", "A4", "A5"]
    assert result.declarations.loc[4, "goods_description"] == 'NdFeB 5" magnets'
    assert result.rejected_rows()["line"].tolist() == [3]


def test_the_fast_reader_and_the_careful_one_give_the_same_table(tmp_path, world):
    sample = world.head(3000).drop(columns=[c for c in world if c.startswith("truth_")])
    data = sample.to_csv(index=False).encode()
    fast = read_manifest(data, "w.csv")
    careful = _slow_csv(data.decode(), ",", set(), "utf-8", "w.csv", Limits())
    assert len(fast.frame) == 3000 and not len(fast.problems) and not len(careful.problems)
    pd.testing.assert_frame_equal(fast.frame.astype(object).where(fast.frame.notna(), None), careful.frame)
    np.testing.assert_array_equal(fast.lines, careful.lines)
    # ragged records: pyarrow skips them, the intake puts them back in place, rejected
    lines = data.split(b"\n")
    lines[5] += b",surplus"
    lines[2000] = b",".join(lines[2000].split(b",")[:4])
    ragged = b"\n".join(lines)
    fast = read_manifest(ragged, "w.csv")
    careful = _slow_csv(ragged.decode(), ",", set(), "utf-8", "w.csv", Limits())
    pd.testing.assert_frame_equal(fast.frame.astype(object).where(fast.frame.notna(), None), careful.frame)
    np.testing.assert_array_equal(fast.lines, careful.lines)
    pd.testing.assert_frame_equal(fast.problems, careful.problems)
    assert fast.problems["position"].tolist() == [4, 1999]


def test_xlsx_first_or_named_sheet_with_rows_and_typed_cells(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    cover = book.active
    cover.title = "Cover"
    frame = texts()
    cover.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        cover.append([None if v is None else v for v in row])
    cover["H2"] = 10  # a number cell (net_weight_kg)
    cover["B3"] = pd.Timestamp("2025-05-02").to_pydatetime()  # a date cell
    cover.append([None] * len(frame.columns))  # an empty row: not a record
    cover.append(["A9", "2025-05-06", "381010", "solder", "CN", "CN", "US", "5", "50", "air", None, "0", None, "x"])
    other = book.create_sheet("Manifest")
    other.append(list(frame.columns))
    other.append(list(frame.iloc[0]))
    path = tmp_path / "m.xlsx"
    book.save(path)
    first = load_declarations(path)
    assert first.declarations["declaration_id"].tolist() == ["A1", "A2", "A3", "A4", "A5"]
    assert first.declarations.loc[1, "net_weight_kg"] == 10.0
    assert first.declarations.loc[2, "declaration_date"] == pd.Timestamp("2025-05-02")
    assert first.rejected_rows()[["line", "problems"]].values.tolist() == [
        [8, f"values beyond the header's {len(frame.columns)} columns"]]
    assert load_declarations(path, sheet="Manifest").declarations["declaration_id"].tolist() == ["A1"]
    with pytest.raises(IntakeError, match="no sheet named 'Nope'; the workbook has 'Cover', 'Manifest'"):
        load_declarations(path, sheet="Nope")


def test_bombs_and_oversize_files_are_quick_clear_errors(tmp_path):
    limits = Limits(max_bytes=1 << 20, max_decompressed_bytes=8 << 20)
    bomb = gzip.compress(b"a," * (40 << 20), compresslevel=9)  # 80 MB of text in well under 1 MB
    assert len(bomb) < limits.max_bytes
    t0 = time.perf_counter()
    with pytest.raises(IntakeError, match="decompresses to more than 8 MB") as err:
        read_manifest(bomb, "bomb.csv.gz", limits=limits)
    assert err.value.kind == "too_large" and time.perf_counter() - t0 < 5
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 << 20))
    with pytest.raises(IntakeError, match="unpacks to 64 MB, above the limit of 8 MB") as err:
        read_manifest(buffer.getvalue(), "bomb.xlsx", limits=limits)
    assert err.value.kind == "too_large"
    with pytest.raises(IntakeError, match="above the limit of 1 MB") as err:
        read_manifest(b"x" * (2 << 20), "big.csv", limits=limits)
    assert err.value.kind == "too_large"


@pytest.mark.parametrize("name,data,kind,message", [
    ("empty.csv", b"  \n", "unreadable", "the file is empty"),
    ("scan.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "unsupported", "this is a PNG image"),
    ("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 500, "unsupported", "legacy Excel .xls"),
    ("m.parquet", b"not parquet at all", "unreadable", "named .parquet but is not a Parquet file"),
    ("m.xlsx", b"PK\x03\x04garbage", "unreadable", "damaged"),
    ("notes.zip", None, "unsupported", "a zip archive, not an XLSX workbook"),
    ("blob.bin", bytes(range(32)) * 300, "unsupported", "binary file"),
    ("cut.csv.gz", gzip.compress(np.random.default_rng(0).bytes(20_000))[:2000], "unreadable", "damaged or truncated"),
])
def test_files_that_cannot_be_read_get_one_clear_sentence(name, data, kind, message):
    if data is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("readme.txt", "hello")
        data = buffer.getvalue()
    with pytest.raises(IntakeError, match=message) as err:
        load_declarations(data, source=name)
    assert err.value.kind == kind
    assert str(err.value).startswith(name + ": ") and "\n" not in str(err.value)


def test_every_csv_written_neutralises_spreadsheet_formulas(tmp_path):
    from click.testing import CliRunner

    from contraband.cli import main
    from contraband.data.export import csv_bytes

    frame = pd.DataFrame({"goods_description": ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tTAB",
                                                "\rCR", "solder paste"],
                          "declared_value_usd": [-3.5, 1, 2, 3, 4, 5, 6]})
    cells = pd.read_csv(io.BytesIO(csv_bytes(frame)), dtype=str, keep_default_na=False)
    assert cells["goods_description"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)", "'\tTAB",
                                                   "'\rCR", "solder paste"]
    assert cells["declared_value_usd"].iloc[0] == "-3.5"  # numbers stay numbers
    # the rejected rows a command writes are neutralised too
    path = tmp_path / "m.csv"
    manifest(hs_code=["=1+1", "690721", "2201.90", "850511", "7504.00"]).to_csv(path, index=False)
    out = tmp_path / "rejected.csv"
    result = CliRunner().invoke(main, ["validate", str(path), "--rejected", str(out)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out, dtype=str)["hs_code"].tolist() == ["'=1+1"]
    # and the batch writer (part by part), whatever the part holds
    from contraband.data.export import TableWriter

    with TableWriter(tmp_path / "parts.csv", ["goods_description", "declared_value_usd", "flagged"]) as writer:
        writer.write(frame.head(4).assign(flagged=True))
        writer.write(frame.iloc[4:])  # a part without a column: written empty
    cells = pd.read_csv(tmp_path / "parts.csv", dtype=str, keep_default_na=False)
    assert cells["goods_description"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)", "'\tTAB",
                                                   "'\rCR", "solder paste"]
    assert cells["declared_value_usd"].iloc[0] == "-3.5" and cells["flagged"].tolist() == ["True"] * 4 + [""] * 3
    assert (tmp_path / "parts.csv").read_bytes().count(b"\r\n") == 8  # CRLF between records


def test_an_oversize_field_is_rejected_on_its_own_column_with_the_declaration_id(tmp_path):
    """Beyond Python csv's own field limit (131,072 characters): the field is still reported on
    its column, and the record's other fields (its declaration_id) are read, whole file or
    streamed, whether the line fits in a chunk or not."""
    from contraband.data.chunks import read_chunks

    frame = texts()
    frame.loc[1, "goods_description"] = "x" * 5_000_121
    path = tmp_path / "long.csv"
    path.write_bytes(csv_text(frame).encode())
    result = load_declarations(path)
    assert result.declarations["declaration_id"].tolist() == ["A1", "A3", "A4", "A5"]
    bad = result.rejected_rows()
    assert bad[["line", "declaration_id"]].values.tolist() == [[3, "A2"]]
    assert bad["problems"].iloc[0].startswith("goods_description 'xxx")
    assert bad["problems"].iloc[0].endswith("field of 5,000,121 characters (the limit is 10,000)")
    assert bad["hs_code"].iloc[0] == "690721"  # the other cells as received
    for chunk_bytes in (32 << 20, 1 << 20):  # the record inside a chunk; a line longer than any record
        parts = list(read_chunks(path, chunk_bytes=chunk_bytes))
        ids = [i for p in parts for i in p.frame["declaration_id"]]
        problems = pd.concat([p.problems.assign(id=p.frame["declaration_id"].to_numpy()[p.problems["position"]])
                              for p in parts])
        assert ids == ["A1", "A2", "A3", "A4", "A5"], chunk_bytes
        assert problems[["id", "column"]].values.tolist() == [["A2", "goods_description"]], chunk_bytes
        reason = problems["reason"].iloc[0]
        assert reason == "field of 5,000,121 characters (the limit is 10,000)" if chunk_bytes > 5_000_121 else \
            reason.startswith("field of more than ") and "with no line end: longer than any record" in reason


def _gzip_of_one_endless_field(path, mb: int, head: bytes = b"") -> None:
    """A .gz of ``head`` then ``mb`` MB of one field, written a megabyte at a time."""
    pack = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with open(path, "wb") as out:
        out.write(pack.compress(head))
        for _ in range(mb):
            out.write(pack.compress(b"x" * (1 << 20)))
        out.write(pack.flush())


def _peak_bytes(run) -> tuple[int, object]:
    """The peak of Python's allocations while ``run()`` runs, and what it returned."""
    import tracemalloc

    tracemalloc.start()
    try:
        out = run()
        return tracemalloc.get_traced_memory()[1], out
    finally:
        tracemalloc.stop()


def _refused(run, message: str):
    def refused():
        with pytest.raises(IntakeError, match=message) as err:
            run()
        return err.value

    return refused


def test_a_gzip_bomb_of_one_huge_field_is_refused_in_bounded_memory(tmp_path):
    """300 MB of one field in a 300 kB upload: decompressed a piece at a time and refused as
    soon as it passes the limit, its memory the limit's, not the 300 MB."""
    bomb = tmp_path / "bomb.csv.gz"
    _gzip_of_one_endless_field(bomb, 300, b"declaration_id,goods_description\nA1,")
    data = bomb.read_bytes()
    assert len(data) < 400_000
    t0 = time.perf_counter()
    peak, error = _peak_bytes(_refused(lambda: read_manifest(data, "bomb.csv.gz",
                                                             limits=Limits(max_decompressed_bytes=8 << 20)),
                                       "decompresses to more than 8 MB"))
    assert error.kind == "too_large" and time.perf_counter() - t0 < 5
    assert peak < 24 << 20, f"{peak / 2**20:.0f} MB"
    # several members are one file, as gzip reads them
    two = gzip.compress(b"declaration_id,hs_code\nA1,381010\n") + gzip.compress(b"A2,381010\n")
    assert read_manifest(two, "two.csv.gz").frame["declaration_id"].tolist() == ["A1", "A2"]


def test_streamed_gzip_with_one_endless_field_stays_bounded(tmp_path):
    """The CLI's streamed reader has no file size limit, but one endless field costs it a
    chunk, not the field: in a record, the record is rejected by itself (id and column kept);
    on the first line, there is no header to read."""
    from contraband.data.chunks import read_chunks

    record, first = tmp_path / "record.csv.gz", tmp_path / "first.csv.gz"
    _gzip_of_one_endless_field(record, 200, b"declaration_id,hs_code,goods_description\nA1,381010,solder paste\n"
                                            b"A2,381010,")
    _gzip_of_one_endless_field(first, 200)
    peak, parts = _peak_bytes(lambda: list(read_chunks(record, chunk_bytes=1 << 20)))
    assert peak < 40 << 20, f"{peak / 2**20:.0f} MB"  # of a 200 MB field
    assert [i for p in parts for i in p.frame["declaration_id"]] == ["A1", "A2"]
    problems = pd.concat([p.problems for p in parts])
    assert problems["column"].tolist() == ["goods_description"]
    assert "line of 209,715,210 bytes with no line end" in problems["reason"].iloc[0]
    peak, _ = _peak_bytes(_refused(lambda: list(read_chunks(first, chunk_bytes=1 << 20)), "no line end within 1 MB"))
    assert peak < 40 << 20, f"{peak / 2**20:.0f} MB"
