"""Sphinx configuration of the course book. book/build.py runs Sphinx with notebooks/ as the source folder, so
the kernels run there, as in tests/test_notebooks.py, and this folder (book/) as the configuration folder."""
project = "From plain RNNs to Mamba to a Triton scan kernel"
html_title = "Linear RNNs to Mamba"
author = "the course authors"
copyright = "the course authors"

extensions = ["myst_nb", "book.extension"]
root_doc = "00_course_map"  # the landing page is the course map; site/index.html points to it
exclude_patterns = ["**/.ipynb_checkpoints"]

# Maths: MathJax 3 from node_modules (book.extension copies it into _static/mathjax), never from a CDN.
mathjax_path = "mathjax/tex-chtml.js"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True  # $$...$$ inside a paragraph is display maths, as JupyterLab shows it

# Notebooks run once and are cached (build/book/jupyter_cache): a prose change rebuilds in seconds.
nb_execution_mode = "cache"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_render_markdown_format = "myst"  # Markdown printed by cells (display(Markdown(...))) has maths too
# Explorers: the page shows their still (text/html, see lessons/widgets/base.py), never the live widget view,
# and loads no ipywidgets JavaScript (MyST-NB would fetch it from a CDN).
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
nb_ipywidgets_js = {}

html_theme = "sphinx_book_theme"
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "navigation_with_keys": True,
}
html_context = {"default_mode": "light"}  # an explicit mode: the theme logs an error without one
html_favicon = "static/favicon.svg"  # without one, Chromium asks for /favicon.ico and logs the 404
html_static_path = ["static"]
html_css_files = ["book.css"]
html_last_updated_fmt = None
