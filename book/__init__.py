"""The course as a static book: Sphinx + MyST-NB + sphinx-book-theme (`./course book`, see book/build.py)."""
