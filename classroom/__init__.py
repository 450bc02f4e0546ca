"""Running a class with the course: the exercises as nbgrader assignments (release, autograde) and JupyterHub."""
