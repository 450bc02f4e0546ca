"""Lesson 06's synthetic tasks, generated on the fly: selective copying, induction heads, associative recall.

Each task returns x (batch, L) long tokens, y (batch, L) long targets and a mask of the scored
positions, the format `lessons.training.fit` takes. The vocabulary is shared and readable:

    0 = "."  noise / blank          1 = ">"  go / trigger          2, 3, … = "a", "b", …  symbols
"""
from __future__ import annotations

import string

import torch

NOISE, GO, FIRST_SYMBOL = 0, 1, 2
CHARACTERS = ".>" + string.ascii_lowercase


def vocab_size(n_symbols: int) -> int:
    """Number of token ids for a task with `n_symbols` symbols: noise, go and the symbols."""
    return FIRST_SYMBOL + n_symbols


def encode(text: str) -> torch.Tensor:
    """'..a.b>>' -> tensor([0, 0, 2, 0, 3, 1, 1]). Spaces are dropped; unknown characters raise."""
    text = text.replace(" ", "")
    unknown = sorted(set(text) - set(CHARACTERS))
    if unknown:
        raise ValueError(f"unknown characters {unknown}: use '.' for noise, '>' for go and letters a–z for symbols.")
    return torch.tensor([CHARACTERS.index(c) for c in text], dtype=torch.long)


def decode(tokens) -> str:
    """tensor([0, 2, 1]) -> '.a>'."""
    return "".join(CHARACTERS[int(t)] for t in tokens)


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive int, got {value!r}.")


def selective_copying(batch: int, n_memorize: int = 4, region: int = 16, n_symbols: int = 8,
                      generator: torch.Generator | None = None):
    """Symbols scattered at random among noise; after them come n_memorize go tokens, where the symbols
    must be output in order (Gu and Dao, Mamba, §3.1). L = region + n_memorize.

    Example (region 10, 3 symbols): x = "..c...a.b.>>>", y = "cab" at the three '>' positions.
    Returns x (B, L), y (B, L) (0 where not scored) and mask (L,), True on the last n_memorize steps.
    Chance accuracy: 1/n_symbols.
    """
    _check_sizes(batch=batch, n_memorize=n_memorize, region=region, n_symbols=n_symbols)
    if n_memorize > region:
        raise ValueError(f"`n_memorize` ({n_memorize}) must be at most `region` ({region}).")
    symbols = torch.randint(FIRST_SYMBOL, FIRST_SYMBOL + n_symbols, (batch, n_memorize), generator=generator)
    positions = torch.rand(batch, region, generator=generator).argsort(-1)[:, :n_memorize].sort(-1).values
    x = torch.full((batch, region + n_memorize), NOISE, dtype=torch.long)             # (B, L)
    x.scatter_(1, positions, symbols)
    x[:, region:] = GO
    y = torch.zeros_like(x)
    y[:, region:] = symbols
    mask = torch.arange(region + n_memorize) >= region
    return x, y, mask


def induction_heads(batch: int, length: int = 32, n_symbols: int = 8, generator: torch.Generator | None = None):
    """Random symbols; the trigger '>' appears once, followed by a symbol, and again at the last step,
    where the model must name the symbol that followed it the first time (an induction head).

    Returns x (B, L), y (B, L) and mask (L,), True only at the last step. Chance: 1/n_symbols.
    """
    _check_sizes(batch=batch, length=length, n_symbols=n_symbols)
    if length < 4:
        raise ValueError(f"`length` must be at least 4 (trigger, answer, one more, trigger), got {length}.")
    x = torch.randint(FIRST_SYMBOL, FIRST_SYMBOL + n_symbols, (batch, length), generator=generator)
    where = torch.randint(0, length - 2, (batch,), generator=generator)               # trigger position < L − 2
    rows = torch.arange(batch)
    x[rows, where] = GO
    x[:, -1] = GO
    y = torch.zeros_like(x)
    y[:, -1] = x[rows, where + 1]
    return x, y, torch.arange(length) == length - 1


def associative_recall(batch: int, n_pairs: int = 6, n_symbols: int = 16, generator: torch.Generator | None = None):
    """Key–value pairs "k₁ v₁ k₂ v₂ …", then '>' and one of the keys: output that key's value.

    Keys are distinct within a sequence. L = 2·n_pairs + 2; only the last step is scored.
    Returns x (B, L), y (B, L), mask (L,). Chance: 1/n_symbols.
    """
    _check_sizes(batch=batch, n_pairs=n_pairs, n_symbols=n_symbols)
    if n_pairs > n_symbols:
        raise ValueError(f"`n_pairs` ({n_pairs}) must be at most `n_symbols` ({n_symbols}): keys are distinct.")
    keys = torch.rand(batch, n_symbols, generator=generator).argsort(-1)[:, :n_pairs] + FIRST_SYMBOL
    values = torch.randint(FIRST_SYMBOL, FIRST_SYMBOL + n_symbols, (batch, n_pairs), generator=generator)
    asked = torch.randint(0, n_pairs, (batch,), generator=generator)
    rows = torch.arange(batch)
    pairs = torch.stack([keys, values], dim=-1).flatten(1)                            # (B, 2·n_pairs)
    x = torch.cat([pairs, torch.full((batch, 1), GO), keys[rows, asked][:, None]], dim=1)
    y = torch.zeros_like(x)
    y[:, -1] = values[rows, asked]
    return x, y, torch.arange(x.shape[1]) == x.shape[1] - 1
