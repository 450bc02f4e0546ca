"""Synthetic sequence tasks, generated on the fly (no downloads), shared by the lessons.

Each task returns x (the model's input), y (targets) and a mask of the scored positions, the batch format
`lessons.training.fit` takes.

* Lessons 01 and 05: `delay_task` (echo the input `delay` steps later, float) and `recall_first_task`
  (name the first token after L − 1 distractors).
* Lesson 06: selective copying, induction heads and associative recall, over one readable vocabulary:

    0 = "."  noise / blank          1 = ">"  go / trigger          2, 3, … = "a", "b", …  symbols
"""
from __future__ import annotations

import string

import torch

from lessons.checks import require_int, require_positive_int

NOISE, GO, FIRST_SYMBOL = 0, 1, 2
CHARACTERS = ".>" + string.ascii_lowercase


# ---------------------------------------------------------------------------------------------
# Lessons 01 and 05: remember something for a while
# ---------------------------------------------------------------------------------------------
def delay_task(batch: int, length: int, delay: int, generator: torch.Generator | None = None):
    """Echo the input `delay` steps later: y_t = x_{t-delay}.

    Returns x (B, T, 1) of standard normal noise, y (B, T, 1), and a mask (T,) that is True where
    t ≥ delay, the steps that have something to recall. Predicting 0 gives a loss of 1 on those steps.
    """
    batch, length = require_positive_int("batch", batch), require_positive_int("length", length)
    delay = require_int("delay", delay, minimum=0, maximum=length - 1)
    x = torch.randn(batch, length, 1, generator=generator)
    y = torch.zeros_like(x)
    y[:, delay:] = x[:, : length - delay]
    mask = torch.arange(length) >= delay
    return x, y, mask


def recall_first_task(batch: int, length: int, n_classes: int = 8, n_distractors: int = 8,
                      generator: torch.Generator | None = None):
    """Remember the first token through L − 1 distractors, and name it at the last step.

    Tokens 0..n_classes−1 are the classes; the first token is one of them. Tokens n_classes..
    n_classes+n_distractors−1 are distractors and fill the other L − 1 steps at random. Returns
    x (B, L) long, y (B, L) long (the first token, repeated), and a mask (L,) that is True only at the
    last step, the one that is scored. Vocabulary size: n_classes + n_distractors. Chance: 1/n_classes.
    """
    batch, length = require_positive_int("batch", batch), require_positive_int("length", length)
    n_classes = require_int("n_classes", n_classes, minimum=2)
    n_distractors = require_positive_int("n_distractors", n_distractors)
    first = torch.randint(0, n_classes, (batch, 1), generator=generator)                        # (B, 1)
    distractors = torch.randint(n_classes, n_classes + n_distractors, (batch, length - 1), generator=generator)
    x = torch.cat([first, distractors], dim=1)                                                   # (B, L)
    y = first.expand(batch, length).clone()                                                      # (B, L)
    mask = torch.arange(length) == length - 1
    return x, y, mask


# ---------------------------------------------------------------------------------------------
# Lesson 06: select what to remember (the vocabulary above)
# ---------------------------------------------------------------------------------------------
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


def selective_copying(batch: int, n_memorize: int = 4, region: int = 16, n_symbols: int = 8,
                      generator: torch.Generator | None = None):
    """Symbols scattered at random among noise; after them come n_memorize go tokens, where the symbols
    must be output in order (Gu and Dao, Mamba, §3.1). L = region + n_memorize.

    Example (region 10, 3 symbols): x = "..c...a.b.>>>", y = "cab" at the three '>' positions.
    Returns x (B, L), y (B, L) (0 where not scored) and mask (L,), True on the last n_memorize steps.
    Chance accuracy: 1/n_symbols.
    """
    batch, region = require_positive_int("batch", batch), require_positive_int("region", region)
    n_memorize = require_int("n_memorize", n_memorize, minimum=1, maximum=region)   # at most one symbol a place
    n_symbols = require_positive_int("n_symbols", n_symbols)
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
    batch, n_symbols = require_positive_int("batch", batch), require_positive_int("n_symbols", n_symbols)
    length = require_int("length", length, minimum=4)             # trigger, answer, one more, trigger
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
    batch, n_symbols = require_positive_int("batch", batch), require_positive_int("n_symbols", n_symbols)
    n_pairs = require_int("n_pairs", n_pairs, minimum=1, maximum=n_symbols)          # keys are distinct symbols
    keys = torch.rand(batch, n_symbols, generator=generator).argsort(-1)[:, :n_pairs] + FIRST_SYMBOL
    values = torch.randint(FIRST_SYMBOL, FIRST_SYMBOL + n_symbols, (batch, n_pairs), generator=generator)
    asked = torch.randint(0, n_pairs, (batch,), generator=generator)
    rows = torch.arange(batch)
    pairs = torch.stack([keys, values], dim=-1).flatten(1)                            # (B, 2·n_pairs)
    x = torch.cat([pairs, torch.full((batch, 1), GO), keys[rows, asked][:, None]], dim=1)
    y = torch.zeros_like(x)
    y[:, -1] = values[rows, asked]
    return x, y, torch.arange(x.shape[1]) == x.shape[1] - 1
