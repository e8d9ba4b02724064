"""The benchmark: `make bench` runs `python -m bench` from the project root."""
