"""The example layout every benchmark imports into, as config text (a `{layout}` in
each benchmark's config), and the listeners an import-only benchmark turns off."""

# Every door off, limits far past the benchmark's files: `renkei import` alone.
IMPORT_ONLY = """[smtp]
enabled = false
[ftp]
enabled = false
[api]
enabled = false
[limits]
max_rows = 2000000
max_bytes = 1073741824
"""

PERFORMANCE = """[layouts.performance]
columns = [
  { name = "member_no",    type = "int",  required = true },
  { name = "date",         type = "date", required = true },
  { name = "sales_amount", type = "int",  max_digits = 13 },
  { name = "note",         type = "text", max_length = 3000 },
]"""
