"""Solutions to lesson 05's exercises."""
import cmath
import math


def eigenvalue(nu, theta):
    """Exercise 1: λ = exp(−exp(ν) + i·exp(θ))."""
    return cmath.exp(complex(-math.exp(nu), math.exp(theta)))


# Exercise 2: exp(−e^−3) = exp(−0.0498) = 0.9514.
MAGNITUDE_NU_MINUS_3 = 0.951

# Exercise 3: √(1 − 0.99²) = √0.0199 = 0.1411.
GAMMA_099 = 0.141
