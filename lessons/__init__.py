"""The course's shared library: maths, references, tasks, widgets and exercise checks.

Notebooks, animations, kernels' tests and the test suite all import from here, so each idea is
written once. One module per lesson (`rnn` for lesson 01, ...), plus a few shared helpers.
"""
from lessons.utils import seed_everything, show_results, show_source

__all__ = ["seed_everything", "show_results", "show_source"]
