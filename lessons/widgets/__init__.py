"""Interactive explorers, one module per lesson. Each is a small class whose `update(**values)` can be
called directly, so the test suite drives the same code path a slider does."""
from lessons.widgets.complex_rnn import SpiralExplorer
from lessons.widgets.linear_rnn import EigenExplorer
from lessons.widgets.lru import LRUExplorer
from lessons.widgets.memory_traffic import MemoryTrafficExplorer
from lessons.widgets.rnn import GradientExplorer
from lessons.widgets.scan import ScanLevelExplorer
from lessons.widgets.ssd import SSDExplorer
from lessons.widgets.ssm import SelectivityExplorer

__all__ = ["EigenExplorer", "GradientExplorer", "LRUExplorer", "MemoryTrafficExplorer", "ScanLevelExplorer",
           "SelectivityExplorer", "SpiralExplorer", "SSDExplorer"]
