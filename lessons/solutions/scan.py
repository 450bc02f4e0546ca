"""Solutions to lesson 04's exercises."""


def combine(earlier, later):
    """Exercise 1: (a1, b1) ∘ (a2, b2) = (a1·a2, a2·b1 + b2)."""
    (a1, b1), (a2, b2) = earlier, later
    return a1 * a2, a2 * b1 + b2


# Exercise 2: offsets 1, 2, 4, ..., 512 are 10 levels: ⌈log₂ 1000⌉.
HILLIS_STEELE_LEVELS_1000 = 10

# Exercise 3: 15 + 14 + 12 + 8.
HILLIS_STEELE_COMBINES_16 = 49
