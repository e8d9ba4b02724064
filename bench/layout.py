"""The example layout every benchmark imports into, as config text (a `{layout}` in
each benchmark's config)."""

PERFORMANCE = """[layouts.performance]
columns = [
  { name = "member_no",    type = "int",  required = true },
  { name = "date",         type = "date", required = true },
  { name = "sales_amount", type = "int",  max_digits = 13 },
  { name = "note",         type = "text", max_length = 3000 },
]"""
