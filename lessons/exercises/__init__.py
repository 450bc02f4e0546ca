"""Exercise checks, one module per lesson. Solutions for teachers are in `lessons.solutions`."""
