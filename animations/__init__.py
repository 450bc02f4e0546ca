"""Manim scenes, one module per lesson (`lesson01_rnn.py`, ...), a shared style, and a render command.

Render everything with `./course render`, or see `python -m animations.render --help`.
"""
