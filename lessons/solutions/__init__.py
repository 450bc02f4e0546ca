"""Reference solutions to the exercises, one module per lesson, for teachers to hand out.
The test suite runs every check against these, and against a typical wrong answer."""
