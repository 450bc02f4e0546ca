"""Solutions to lesson 04's exercises."""


def combine(earlier, later):
    """Exercise 1: (a1, b1) ∘ (a2, b2) = (a1·a2, a2·b1 + b2)."""
    (a1, b1), (a2, b2) = earlier, later
    return a1 * a2, a2 * b1 + b2


# Exercise 2: offsets 1, 2, 4, ..., 8192 are 14 levels: ⌈log₂ 10 000⌉.
HILLIS_STEELE_LEVELS_10000 = 14

# Exercise 3: 15 + 14 + 12 + 8.
HILLIS_STEELE_COMBINES_16 = 49
