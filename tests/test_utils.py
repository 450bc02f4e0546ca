"""lessons.utils: the seeding helper keeps the caller's random stream, the timer takes a median after warm-up,
and tables come out as Markdown with one cell per column."""
import time

import pytest
import torch

from lessons.utils import MarkdownTable, markdown_table, median_time, seeded


def test_seeded_gives_the_same_draws_and_restores_the_callers_stream():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    with seeded(3):
        first = torch.rand(4)
    assert torch.equal(torch.rand(3), expected)                 # the caller's stream is untouched
    with seeded(3):
        assert torch.equal(torch.rand(4), first)
    with pytest.raises(TypeError, match="`seed` must be an int"):
        with seeded(1.5):
            pass


def test_median_time_warms_up_then_takes_the_median():
    calls = []
    seconds = median_time(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7 and 0 <= seconds < 0.1
    with pytest.raises(ValueError, match="`repeats` must be an int in"):
        median_time(lambda: None, repeats=0)


def test_median_time_is_robust_to_one_slow_call():
    delays = iter([0.0, 0.0, 0.05, 0.0, 0.0, 0.0])                # warm-up, then one slow call among five
    assert median_time(lambda: time.sleep(next(delays)), repeats=5, warmup=1) < 0.01


def test_markdown_table_formats_numbers_and_keeps_strings():
    table = markdown_table([["a", 0.123456, 7], ["b", 3e-9, 1.5]], ["name", "x", "n"], number_format=".3g")
    assert isinstance(table, MarkdownTable) and table._repr_markdown_() == str(table)
    assert table.splitlines() == ["| name | x | n |", "|---:|---:|---:|", "| a | 0.123 | 7 |", "| b | 3e-09 | 1.5 |"]
    with pytest.raises(ValueError, match=r"`len\(rows\[1\]\)` must be an int in \[2, 2\], got 1"):
        markdown_table([[1, 2], [3]], ["p", "q"])


def test_markdown_table_escapes_bars_so_it_still_renders_as_a_table():
    from markdown_it import MarkdownIt

    table = markdown_table([["|λ| = 0.9", 0.5]], ["|λ|", "1/(1−|λ|²)"])
    assert table.splitlines()[0] == r"| \|λ\| | 1/(1−\|λ\|²) |"
    html = MarkdownIt("commonmark").enable("table").render(str(table))
    assert html.count("</th>") == 2 and html.count("</td>") == 2 and ">|λ| = 0.9</td>" in html


def test_markdown_tables_by_heading_skip_the_rule_and_end_at_a_blank_line():
    from lessons.experiments.recorded import markdown_tables

    text = ("| a | b |\n|---|---|\n| 0 | 1 |\n\n# Title\n\n## First\n| L | ms |\n|---:|---:|\n| 512 | 0.2 |\n"
            "| 4096 | 1.4 |\n\nprose | with a bar\n\n| x |\n|:-|\n| y |\n### Second\n| p |\n|---|\n| q |\n")
    assert markdown_tables(text) == {
        None: [{"a": "0", "b": "1"}],
        "First": [{"L": "512", "ms": "0.2"}, {"L": "4096", "ms": "1.4"}, {"x": "y"}],   # two tables, one heading
        "Second": [{"p": "q"}]}


def test_per_call_seconds_divides_a_loop_of_calls():
    from lessons.utils import per_call_seconds

    calls = []
    seconds = per_call_seconds(lambda: calls.append(time.sleep(0.001)), calls=4, repeats=3)
    assert len(calls) == 4 * (3 + 1)                                        # three timed loops after a warm-up loop
    assert 0.001 <= seconds < 0.01
    with pytest.raises(ValueError, match="calls"):
        per_call_seconds(lambda: None, calls=0)
