"""Solutions to lesson 03's exercises."""
import cmath


def rotation_eigenvalues(r, theta):
    """Exercise 1: r·R(θ) has eigenvalues r·e^{±iθ}."""
    return cmath.rect(r, theta), cmath.rect(r, -theta)


# Exercise 2: ln ½ / ln 0.98 = 34.31 steps.
HALF_LIFE_098 = 34
