"""A file's contents: names, decoding, CSV reading, layouts, validation messages."""
