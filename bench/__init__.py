"""Benchmarks: ``./run bench [NAME ...]``. Each ``bench/NAME.py`` has ``main(argv) -> int``
and prints a table of what it measured."""
