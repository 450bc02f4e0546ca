"""Lesson 07 explorer: bytes moved and roofline time of a naive against a fused selective scan."""
from __future__ import annotations

import ipywidgets as widgets

from lessons.experiments.memory_traffic import copy_bandwidth
from lessons.memory_traffic import (ACCELERATORS, DTYPE_BYTES, fits_on_chip, human_bytes, human_seconds,
                                    selective_scan_traffic, sram_per_block)
from lessons.palette import LIGHT
from lessons.utils import results_path
from lessons.widgets.base import Explorer, new_figure

BLOCK_DIM, CHUNK = 64, 64          # one fused-kernel block: 64 channels × a 64-token chunk
NAIVE, FUSED = LIGHT.exploding, LIGHT.stable


class MemoryTrafficExplorer(Explorer):
    """Sliders for batch, dim, log₂ L and N; toggles for dtype and accelerator. Times use the copy bandwidth
    measured on the H200 (results/kernels_gpu.md) for the H200, the vendor's HBM figure for the other GPUs."""

    def __init__(self, batch: int = 8, dim: int = 1536, log2_length: int = 12, state: int = 16,
                 dtype: str = "float32", accelerator: str = "NVIDIA H200"):
        self.measured = {"NVIDIA H200": copy_bandwidth(results_path("kernels_gpu.md").read_text())}
        slider = lambda value, low, high, step, label: widgets.IntSlider(  # noqa: E731
            value=value, min=low, max=high, step=step, description=label, continuous_update=False)
        self.controls = {
            "batch": slider(batch, 1, 64, 1, "batch"),
            "dim": slider(dim, 256, 4096, 256, "dim"),
            "log2_length": slider(log2_length, 9, 14, 1, "log₂ L"),
            "state": slider(state, 1, 64, 1, "N"),
            "dtype": widgets.ToggleButtons(options=list(DTYPE_BYTES), value=dtype, description="dtype"),
            "accelerator": widgets.Dropdown(options=list(ACCELERATORS), value=accelerator, description="GPU"),
        }
        super().__init__()

    def draw(self, batch: int, dim: int, log2_length: int, state: int, dtype: str, accelerator: str):
        """Readout: bytes and roofline times; figure: bytes against N for both, with the current N marked."""
        gpu, length = ACCELERATORS[accelerator], 2**log2_length
        naive = selective_scan_traffic(batch, dim, length, state, dtype, fused=False)
        fused = selective_scan_traffic(batch, dim, length, state, dtype, fused=True)
        states = list(range(1, 65))
        fig = new_figure(6.8, 3.0)
        ax = fig.add_subplot()
        for is_fused, colour, name in ((False, NAIVE, "naive (materialises h)"),
                                       (True, FUSED, "fused (h stays on chip)")):
            ax.plot(states, [selective_scan_traffic(batch, dim, length, n, dtype, fused=is_fused).total / 2**30
                             for n in states], color=colour, lw=2, label=name)
        ax.plot([state, state], [fused.total / 2**30, naive.total / 2**30], "k:", lw=1)
        ax.plot([state], [naive.total / 2**30], "o", color=NAIVE)
        ax.plot([state], [fused.total / 2**30], "o", color=FUSED)
        ax.set(yscale="log", xlabel="state size N", ylabel="HBM traffic (GiB)",
               title=f"B={batch}, D={dim}, L={length}, {dtype}")
        ax.legend(fontsize=8, loc="upper left", frameon=False)
        block = sram_per_block(BLOCK_DIM, CHUNK, state, dtype)
        fits = "fits" if fits_on_chip(BLOCK_DIM, CHUNK, state, gpu, dtype) else "does NOT fit"
        bandwidth, source = ((self.measured[accelerator], "measured copy") if accelerator in self.measured
                             else (gpu.hbm_bytes_per_s, "datasheet"))
        text = (f"N = {state}: naive moves {human_bytes(naive.total)} ({human_seconds(naive.total / bandwidth)} "
                f"at {bandwidth / 1e12:.2f} TB/s, {source}), fused moves {human_bytes(fused.total)} "
                f"({human_seconds(fused.total / bandwidth)}): {naive.total / fused.total:.1f}× fewer bytes. "
                f"One block ({BLOCK_DIM} channels × {CHUNK} tokens) holds {human_bytes(block)} on chip: "
                f"{fits} on the {accelerator}.")
        return text, fig
