"""Experiment runs, tables and plots for the notebooks, one module per lesson (`experiments.rnn` for lesson 01).

The ideas (maths, references, models) live in `lessons/<stem>.py`; this package trains, times, measures and
draws them, so the ideas modules neither print nor plot.
"""
