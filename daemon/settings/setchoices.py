"""set_values checked in the raw config: a choice column's against its list, any
other's by its type, and none on a key column; called by checks._modes, so `renkei
check`, start and reload refuse the same values.

A set writes its fixed value into every row a file's keys name: a misspelt value would
be written to thousands of rows before anyone saw it. So it must be a listed value
under the normal form an imported cell is matched by (importers/layouts.py
`choice_form`); it is then written as the list writes it (worker/plan.py
`fixed_values`).

on_unknown = "create" does not widen this. It lets partners' files bring values
nobody listed; a set_value is the config's own word, written by whoever writes the
list, and learning it from the config would learn every typo there too, and tie it to
the first run that happened to use it (an undo of that run would forget it while the
config still says it). The refusal says to list the value instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from daemon.settings.problems import Problem, near, shown
from importers.errors import CellError
from importers.layouts import ColumnSpec, choice_form, choice_spellings, converter
from importers.messages import Words


def set_choice_problems(
    where: str, set_values: Any, layout: Any, on_unknown: Any
) -> Iterator[Problem]:
    """One problem per set_value (at `where`.COLUMN) that is no listed value of its
    choice column in `layout` (raw TOML); a near miss among the listed values if any."""
    choices = _choice_columns(layout)
    for column, value in set_values.items() if isinstance(set_values, dict) else []:
        values = choices.get(column)
        if values is None or not isinstance(value, str):
            continue  # not a choice column, or a type the model names
        form = choice_form(value)
        if not form or form in choice_spellings(values):
            continue  # empty: the set clears the column; there is no value to list
        key = "config.set_value_create" if on_unknown == "create" else "config.set_value_choice"
        params = {"value": shown(value), "column": column, "values": ", ".join(values)}
        yield Problem(f"{where}.{column}", key, params, near(form, values))


def set_value_problems(where: str, set_values: Any, layout: Any) -> Iterator[Problem]:
    """A set_value (at `where`.COLUMN) on a key column (a set matches rows by their
    key, and would give them all one), or one its column's type refuses: a set writes
    it as an imported cell of it would be stored (worker/plan.py `fixed_values`), so
    `"abc"` would be text in an int column of every row a file names."""
    columns = layout.get("columns") if isinstance(layout, dict) else None
    by_name = {c.get("name"): c for c in columns or () if isinstance(c, dict)}
    key = layout.get("key") if isinstance(layout, dict) else None
    for name, value in set_values.items() if isinstance(set_values, dict) else []:
        if isinstance(key, list) and name in key:
            yield Problem(f"{where}.{name}", "config.set_value_key", {"column": name})
            continue
        column = by_name.get(name)
        if column is None or not isinstance(value, str):
            continue  # no column (named elsewhere), or a type the model names
        if not value.strip():  # a clear: NULL, or an empty text
            if column.get("required") is True:
                yield Problem(f"{where}.{name}", "config.set_value_required", {"column": name})
            continue
        if column.get("type") == "choice":
            continue  # set_choice_problems'
        spec = _spec(column)
        if spec is None:
            continue  # a column the model refuses
        try:
            converter(spec)(value)
        except CellError as exc:
            params = {"value": shown(value), "column": name, "problem": Words(exc.key, exc.params)}
            yield Problem(f"{where}.{name}", "config.set_value_type", params)


def _spec(column: dict[str, Any]) -> ColumnSpec | None:
    """A raw column as the reader's plain spec; None when its keys have wrong types."""
    try:
        spec = ColumnSpec(
            str(column["name"]),
            str(column.get("type", "text")),
            max_length=column.get("max_length"),
            max_digits=column.get("max_digits"),
            format=column.get("format"),
            wareki=bool(column.get("wareki", False)),
        )
        converter(spec)
    except Exception:  # noqa: BLE001 - whatever is wrong, the model says it
        return None
    return spec


def _choice_columns(layout: Any) -> dict[str, list[str]]:
    """Each choice column of a raw layout, to its listed values (strings only)."""
    columns = layout.get("columns") if isinstance(layout, dict) else None
    choices = {}
    for column in columns if isinstance(columns, list) else []:
        if isinstance(column, dict) and column.get("type") == "choice":
            listed = column.get("values")
            listed = listed if isinstance(listed, list) else []
            choices[column.get("name")] = [v for v in listed if isinstance(v, str)]
    return choices
