"""The generated row converter and the multi-row INSERT: fast paths that must not
change a single value."""

import random
import sqlite3

import pytest

from daemon.store.multirow import RowInsert
from importers.dates import general_datetime, parse_datetime
from importers.errors import CellError
from importers.layouts import ColumnSpec, converter, row_converter
from importers.messages import Sentences, Words, cut, message, said, words_json, words_of

TRICKY = [
    "",
    "0",
    "007",
    "12345",
    "1,234",
    "12,345,678",
    "1,234,567,890,123",
    "12,345,678,901,234",
    "1,23",
    "1234,567",
    ",123",
    "1,234,",
    "-1,000",
    "+5",
    " 1",
    "1_000",
    "１２３",
    "１，２３４",
    "٣",
    "٣.٥",
    "٢٠٢٤/٠٥/١٦",
    "2024/05/16 ٩:٣٠",
    "²",
    "9" * 13,
    "9" * 14,
    "0" * 13 + "1",
    "0" * 20 + "5",
    "9" * 18,
    "9" * 19,
    "9" * 30,
    "9,999,999,999,999",
    "99,999,999,999,999",
    "2024/05/16",
    "2024-5-6",
    "2024/02/30",
    "abc",
    "0.5",
    "-0.05",
    "-0",
    "00.5",
    "000001.5",
    "0001.50",
    "1.50",
    "12.3456789",
    "0.000001",
    "0.0000001",
    "0.000000",
    "0.0000000",
    "1e5",
    ".5",
    "5.",
    "１.５",
    "2024/05/16 09:30",
    "2024-5-6 9:30:15",
    "2024/05/16T09:30",
    "2024/05/16 24:00",
    "2024/05/16 23:60",
    "2024/02/30 10:00",
    "2024/05-16 10:00",
    " 2024/05/16 10:00",
    "2024/05/16  10:00",
    "２０２４/05/16 10:00",
    "true",
    "TRUE",
    "Yes",
    "off",
    "f",
    "y ",
    "maybe",
]
COLUMNS = [
    ColumnSpec("a", "int"),
    ColumnSpec("b", "int", required=True),
    ColumnSpec("c", "int", max_digits=13),
    ColumnSpec("d", "int", max_digits=3),
    ColumnSpec("e", "date"),
    ColumnSpec("h", "datetime"),
    ColumnSpec("i", "decimal"),
    ColumnSpec("j", "decimal", max_digits=3),
    ColumnSpec("f", "text", max_length=5),
    ColumnSpec("g", "text", required=True),
    ColumnSpec("k", "bool"),
    ColumnSpec("l", "bool", required=True),
]


def outcome(convert, cell):
    try:
        return convert(cell)
    except CellError as exc:
        return ("error", exc.key)


@pytest.mark.parametrize("column", COLUMNS, ids=lambda c: f"{c.type}-{c.name}")
@pytest.mark.parametrize("cell", TRICKY)
def test_fast_path_agrees_with_the_full_converter(column, cell):
    full = converter(column)
    fast = row_converter([column], None, [])
    # Twice: date cells are remembered after their first conversion.
    for _ in range(2):
        assert outcome(lambda c: fast([c])[0], cell) == outcome(full, cell)


@pytest.mark.parametrize("digits", [None, 3])
@pytest.mark.parametrize("cell", TRICKY)
def test_digits_left_as_text_are_only_plain_ones_the_full_converter_takes(digits, cell):
    """An int column whose table makes the integer (digits_as_text) passes a cell of
    plain ASCII digits on as it is; every other cell goes as the full converter says."""
    column = ColumnSpec("n", "int", max_digits=digits, digits_as_text=True)
    full = outcome(converter(column), cell)
    fast = outcome(lambda c: row_converter([column], None, [])([c])[0], cell)
    if isinstance(fast, str):
        assert fast == cell and cell.isdigit() and cell.isascii() and int(cell) == full
    else:
        assert fast == full


@pytest.mark.parametrize(
    ("type_", "limit", "cell", "value"),
    [
        # Zero-padded fixed-width exports: leading zeros are no digits of the number.
        ("int", 13, "00000000000001", 1),
        ("int", 13, "-0000000000000000000000001", -1),
        ("int", 3, "0,000,123", 123),
        ("int", 1, "0", 0),
        ("int", 1, "0000", 0),
        ("decimal", 6, "000001.5", "1.5"),
        ("decimal", 2, "0001.5", "1.5"),
        ("decimal", 1, "0.5", "0.5"),
        ("decimal", 1, "0", "0"),
        ("decimal", 3, "0.05", "0.05"),  # 0.05 is written with two digits after the point
        ("decimal", 3, "1.50", "1.50"),  # stored as written: its 0 is one of its digits
    ],
)
def test_max_digits_counts_the_digits_of_the_number_not_its_leading_zeros(
    type_, limit, cell, value
):
    column = ColumnSpec("n", type_, max_digits=limit)
    assert converter(column)(cell) == value
    assert row_converter([column], None, [])([cell]) == [value]


@pytest.mark.parametrize(
    ("type_", "limit", "cell"),
    [
        ("int", 13, "12345678901234"),
        ("int", 13, "00012345678901234"),
        ("int", 3, "1,234"),
        ("decimal", 6, "000012345.67"),
        ("decimal", 2, "1.50"),
        ("decimal", 2, "0.005"),
    ],
)
def test_max_digits_still_refuses_a_number_of_more_digits(type_, limit, cell):
    column = ColumnSpec("n", type_, max_digits=limit)
    for convert in (converter(column), lambda c: row_converter([column], None, [])([c])[0]):
        with pytest.raises(CellError) as caught:
            convert(cell)
        assert caught.value.key == "cell.max_digits"


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("9" * 5000, None),  # past int()'s 4,300 digits: a ValueError once failed the run
        ("-" + "9" * 20, None),
        ("1" + "0" * 19, None),
        ("9223372036854775808", None),
        ("0" * 5000 + "42", 42),  # padded past that limit, still the number it spells
        ("-" + "0" * 5000 + "7", -7),
        ("+" + "0" * 30, 0),
        ("00009223372036854775807", 2**63 - 1),
    ],
)
def test_an_integer_of_any_length_is_a_number_or_out_of_range(cell, value):
    column = ColumnSpec("n", "int")
    for convert in (converter(column), lambda c: row_converter([column], None, [])([c])[0]):
        if value is None:
            with pytest.raises(CellError) as caught:
                convert(cell)
            assert caught.value.key == "cell.int_range"
        else:
            assert convert(cell) == value


def test_a_long_cell_with_line_breaks_is_said_at_its_own_length():
    """A CRLF is shown as one ↵ but counted as the two characters a limit counts."""
    long = cut("い" * 120 + "\r\n" + "う" * 120)
    assert message("row.error", "ja", line=2, problem=long).endswith("…(全242文字)")


def test_a_long_cell_is_quoted_by_its_start_and_its_length_in_either_language():
    assert cut("x" * 50) == "x" * 50
    long = cut("x" * 51)
    assert message("row.error", "ja", line=2, problem=long) == "2行目: " + "x" * 40 + "…(全51文字)"
    assert message("row.error", "en", line=2, problem=cut("9" * 5000)) == (
        "line 2: " + "9" * 40 + "… (5,000 characters)"
    )


def test_a_sentence_kept_as_words_is_said_again_in_either_language():
    problem = Words("cell.int_range", {"value": cut("9" * 60)})
    words = Words("cell.error", {"line": 3, "column": "qty", "value": "x", "problem": problem})
    kept = words_of(words_json(words))
    assert kept == words
    assert said(kept, "stored", "ja") == message("cell.error", "ja", **words.params)
    assert said(kept, "stored", "en").startswith(
        "line 3, column 'qty', value 'x' is out of the range"
    )
    # Nothing kept, words no longer in the catalog, or not words at all: as stored.
    assert said(None, "stored", "en") == "stored"
    assert said(words_of('{"k":"cell.gone","p":{}}'), "stored", "en") == "stored"
    assert words_of("") is None and words_of("[1") is None and words_of('"x"') is None
    assert words_of('{"a": 1}') is None
    # Several sentences: an import's notes joined by " / ", a send's by a space.
    notes = Sentences([Words("run.dry_run"), Words("run.account_stopped")])
    assert said(words_of(words_json(notes)), "", "en") == (
        "dry run: validated only, nothing was written / the account is stopped; nothing was imported"
    )
    # A plain list, as schema 30 kept an import's notes, is read as such sentences.
    assert words_of(words_json(notes).replace('{"j":" / ","s":', "")[:-1]) == notes
    spaced = words_of(words_json(Sentences([Words("send.done", {"sent": 2, "requests": 1})], " ")))
    assert spaced == Sentences([Words("send.done", {"sent": 2, "requests": 1})], " ")
    assert said(spaced, "", "en") == "2 rows sent in 1 request."
    assert words_json(Sentences([])) == ""


def test_grouped_numbers_are_read_without_commas():
    convert = row_converter([ColumnSpec("n", "int", max_digits=13)], None, [])
    assert convert(["1,234,567"]) == [1234567]
    with pytest.raises(CellError):
        convert(["12,345,678,901,234"])  # 14 digits


@pytest.mark.parametrize("count", [0, 1, 249, 250, 1001])
@pytest.mark.parametrize("width", [1, 4, 1200])
def test_multirow_insert_keeps_every_row_in_order(count, width):
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE TABLE t ({', '.join(f'c{i}' for i in range(width))})")
    rows = [[f"{r}-{i}" if i else r for i in range(width)] for r in range(count)]
    insert = RowInsert.plain("INSERT INTO t VALUES ", width)
    for sql, params in insert.statements(rows):
        db.executemany(sql, params)
    got = db.execute("SELECT * FROM t ORDER BY rowid").fetchall()
    assert got == [tuple(row) for row in rows]


def test_multirow_insert_with_literals_beside_the_values():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (a, b, who)")
    insert = RowInsert("INSERT INTO t (a, b, who) VALUES ", "(?, ?, 'x')", 2)
    for sql, params in insert.statements([[1, "一"], [2, "二"], [3, None]]):
        db.executemany(sql, params)
    assert db.execute("SELECT * FROM t").fetchall() == [
        (1, "一", "x"),
        (2, "二", "x"),
        (3, None, "x"),
    ]


def test_multirow_insert_refuses_a_row_of_the_wrong_width():
    with pytest.raises(ValueError):
        RowInsert.plain("INSERT INTO t VALUES ", 2).statements([[1, 2], [3]])


def datetime_cells() -> list[str]:
    """Cells in the plain datetime shape or near it, real dates and times or not."""
    rnd = random.Random(20241202)
    parts = ["2024", "1999", "0001", "9999", "/", "-", " ", "T", ":", "5", "05", "12", "13"]
    parts += ["29", "30", "31", "00", "23", "24", "59", "60", "０", "年", "x"]
    cells = []
    for _ in range(20000):
        y, sep = rnd.choice(["2024", "2023", "0000", "１９９９"]), rnd.choice("/-/-.")
        other = sep if rnd.random() < 0.8 else rnd.choice("/-.")
        date = f"{y}{sep}{rnd.randint(0, 13)}{other}{rnd.choice(['1', '01', '29', '30', '31'])}"
        time = f"{rnd.randint(0, 25)}:{rnd.choice(['00', '59', '60', '5'])}"
        if rnd.random() < 0.5:
            time += f":{rnd.choice(['00', '59', '61', '7'])}"
        cells.append(f"{date}{rnd.choice([' ', 'T', '  ', '_'])}{time}")
        cells.append("".join(rnd.choices(parts, k=rnd.randint(1, 12))))
    return cells


def test_plain_datetimes_read_as_the_general_path_reads_them():
    """parse_datetime's quick reading of `YYYY/MM/DD HH:MM[:SS]` agrees with the
    general path on every cell, real or not, in that shape or near it."""
    for cell in datetime_cells():
        assert outcome(parse_datetime, cell) == outcome(general_datetime, cell), cell


def test_remembered_dates_and_times_combine_as_the_full_converter_reads_them():
    """The row converter remembers the date and the time of each plain cell apart and
    puts a later cell together from them: over one converter's life, every cell
    (a date of one cell with the time of another among them) reads as the full
    converter reads it."""
    column = ColumnSpec("h", "datetime")
    full, fast = converter(column), row_converter([column], None, [])
    cells = datetime_cells()
    days = ["2024/02/29", "2023/02/29", "2024-12-31", "2024/1/5"]
    clocks = ["0:00", "23:59:59", "24:00", "9:5", "12:30:60"]
    cells += [f"{day}{sep}{clock}" for day in days for clock in clocks for sep in " T"]
    for cell in cells * 2:
        assert outcome(lambda c: fast([c])[0], cell) == outcome(full, cell), cell
    assert fast(["2024/02/29 23:59:59"]) == ["2024-02-29T23:59:59"]
    with pytest.raises(CellError):
        fast(["2023/02/29 23:59:59"])


@pytest.mark.parametrize(
    "cell", ["0.0000001", "-0.00000005", "0.0000000001", "1234567.0000001", "-0.000"]
)
def test_a_decimal_is_stored_as_written_never_in_exponent_form(cell):
    column = ColumnSpec("d", "decimal")
    assert converter(column)(cell) == cell
    assert row_converter([column], None, [])([cell]) == [cell]


def test_plain_decimals_read_as_the_full_converter_reads_them():
    rnd = random.Random(20241203)
    columns = [ColumnSpec("d", "decimal"), ColumnSpec("d", "decimal", max_digits=4)]
    for column in columns:
        full, fast = converter(column), row_converter([column], None, [])

        def generated(cell: str, convert=fast) -> object:
            return convert([cell])[0]

        for _ in range(20000):
            cell = "".join(rnd.choices("0000123456789.-+,", k=rnd.randint(1, 10)))
            assert outcome(generated, cell) == outcome(full, cell), cell


@pytest.mark.parametrize(
    ("kind", "cell", "key"),
    [
        ("int", "٣", "cell.int"),
        ("int", "١,٢٣٤", "cell.int"),
        ("decimal", "٣.٥", "cell.decimal"),
        ("date", "٢٠٢٤/٠٥/١٦", "cell.date"),
        ("datetime", "2024/05/16 ٩:٣٠", "cell.datetime"),
    ],
)
def test_digits_of_other_scripts_are_refused(kind, cell, key):
    """Only ASCII and full-width digits are numbers: int() alone would read
    Arabic-Indic ones, which no partner file means."""
    with pytest.raises(CellError) as info:
        converter(ColumnSpec("x", kind))(cell)
    assert info.value.key == key


def test_full_width_digits_are_still_numbers_and_dates():
    assert converter(ColumnSpec("x", "int"))("１，２３４") == 1234
    assert converter(ColumnSpec("x", "decimal"))("１.５") == "1.5"
    assert converter(ColumnSpec("x", "date"))("２０２４年５月１６日") == "2024-05-16"
    assert converter(ColumnSpec("x", "date", wareki=True))("Ｒ６．５．１６") == "2024-05-16"
