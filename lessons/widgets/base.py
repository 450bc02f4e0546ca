"""What every explorer shares: sliders in, a readout line and a plot out, redrawn on each change."""
from __future__ import annotations

import base64
import io

import ipywidgets as widgets
from matplotlib.figure import Figure


def new_figure(width: float = 6.4, height: float = 3.2) -> Figure:
    """A Matplotlib figure outside pyplot's global state, so explorers never touch the notebook's backend.

    Fixed margins instead of a layout engine: constrained layout doubles the time of every redraw.
    """
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.16, top=0.9)
    return fig


def figure_to_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, pil_kwargs={"compress_level": 1})  # speed over bytes
    return buffer.getvalue()


class Explorer:
    """Base class: subclasses define `controls` (name -> widget) and `draw(**values) -> (text, fig)`.

    The readout is an HTML widget whose text changes with every update, so a browser test can wait
    for it instead of racing image swaps.
    """

    controls: dict[str, widgets.ValueWidget]

    def __init__(self):
        self.readout = widgets.HTML()
        self.image = widgets.Image(format="png")
        self._holding = False  # set while `update` changes several controls, so we redraw once
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.refresh()

    def _on_change(self, _change) -> None:
        if not self._holding:
            self.refresh()

    def values(self) -> dict:
        """The current value of every control."""
        return {name: control.value for name, control in self.controls.items()}

    def update(self, **values) -> str:
        """Set some controls (as a slider would) and return the new readout text."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise KeyError(f"unknown control(s) {sorted(unknown)}; this explorer has {sorted(self.controls)}.")
        self._holding = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False
        self.refresh()
        return self.readout.value

    def refresh(self) -> None:
        """Recompute and redraw from the current control values."""
        text, fig = self.draw(**self.values())
        self.readout.value = f'<span class="explorer-readout">{text}</span>'
        self.image.value = figure_to_png(fig)

    def draw(self, **values):
        raise NotImplementedError

    def widget(self) -> widgets.Widget:
        """The layout shown in a notebook: controls, readout, plot."""
        return widgets.VBox([widgets.HBox(list(self.controls.values())), self.readout, self.image])

    def snapshot_html(self) -> str:
        """A still of the explorer as it stands (plot, readout, control values), for pages that cannot run it."""
        image = base64.b64encode(self.image.value).decode("ascii")
        settings = ", ".join(f"{name} = {value}" for name, value in self.values().items())
        return (f'<div class="explorer-snapshot"><img src="data:image/png;base64,{image}" alt="explorer at {settings}">'
                f"<p>{self.readout.value}</p><p><em>A still at {settings}. To move the sliders, open this "
                "notebook in JupyterLab (<code>./course lab</code>).</em></p></div>")

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The live widget where a widget manager runs (JupyterLab); the still everywhere else (the book)."""
        return {**self.widget()._repr_mimebundle_(**kwargs), "text/html": self.snapshot_html()}
