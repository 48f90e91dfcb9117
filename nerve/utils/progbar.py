"""``Progbar``: Keras's text progress bar (``keras.utils.Progbar``).

Why hand-written rather than tqdm or rich: the bar must print *Keras's* format
(``12/50 ━━━━━━━━━━━━━━━━━━━━ 1s 25ms/step - accuracy: 0.8125 - loss: 0.5521``)
so that logs, docs and users' habits carry over unchanged, including Keras's rules for
averaging (sample-weighted running means, ``stateful_metrics`` shown as-is), number
formatting (``.4f``, ``.4e`` below 1e-3), the ETA and the ``verbose=2`` one-line-per-epoch
mode. tqdm's bar, rate smoothing and ``postfix`` formatting differ and would need as
much code to bend into this shape as to write it; rich brings a large dependency and a
live-rendering model (a refreshing thread) that makes captured output non-deterministic.
Neither is a dependency of nerve today. The whole bar is one small class with
no thread and no dependency, and its output is testable byte for byte: the clock is the
module-level ``_clock`` (tests replace it) and text goes to ``sys.stdout`` at call time.

Beyond Keras: a value named ``"compile_time"`` (seconds spent tracing/compiling the step
function, which ``ProgbarLogger`` passes along with a step's logs) is not averaged as a metric but
shown as ``compile: 1.2s`` (or ``compile: 17ms``) after the time per step; and ANSI
colours are used only when the output is a terminal.

>>> import nerve.utils.progbar as progbar_module
>>> times = iter([0.0, 0.5, 1.0])
>>> progbar_module._clock = lambda: next(times)
>>> bar = progbar_module.Progbar(target=2, verbose=2)
>>> bar.update(1, [("loss", 1.0)])
>>> bar.update(2, [("loss", 0.5)])
2/2 - 1s - 500ms/step - loss: 0.5000
>>> import time; progbar_module._clock = time.monotonic
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["Progbar"]

#: The clock every bar reads (seconds); a module attribute so tests can fake it.
_clock = time.monotonic

#: The log key the bar shows as a compile time rather than as an averaged metric.
COMPILE_TIME_KEY = "compile_time"

_BOLD, _GREEN, _GREY, _RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"


def _is_terminal() -> bool:
    stream = sys.stdout
    return (
        (hasattr(stream, "isatty") and stream.isatty())
        or "ipykernel" in sys.modules
        or "PYCHARM_HOSTED" in os.environ
    )


def _to_float(value: Any) -> Any:
    """A Python float for scalars (tensors, NumPy scalars, 0-d arrays); other values as-is."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _format_value(value: Any) -> str:
    if not isinstance(value, float):
        return str(value)
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _format_duration(seconds: float) -> str:
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s"


def _format_time_per_unit(time_per_unit: float, unit_name: str) -> str:
    if time_per_unit >= 1 or time_per_unit == 0:
        return f"{time_per_unit:.0f}s/{unit_name}"
    if time_per_unit >= 1e-3:
        return f"{time_per_unit * 1e3:.0f}ms/{unit_name}"
    return f"{time_per_unit * 1e6:.0f}us/{unit_name}"


class Progbar:
    """A progress bar for a loop of ``target`` steps, as ``keras.utils.Progbar``.

    Args:
        target: the total number of steps, or ``None`` if unknown.
        width: the width of the bar, in characters.
        verbose: 0 (silent), 1 (a bar redrawn in place on a terminal) or 2 (one line,
            printed when the loop ends).
        interval: the minimum time between two redraws, in seconds.
        stateful_metrics: names of values shown as given rather than averaged over steps.
        unit_name: the name of a step in ``"25ms/step"``.
        stateless_metrics: alternatively, the names of the values to average (all
            others are shown as given); not together with ``stateful_metrics``.

    ``update(current, values)`` records ``values`` (``(name, value)`` pairs) for the steps
    since the last update; each non-stateful value is shown as its running mean weighted
    by the number of steps it covered, except on the final update, whose values are
    shown as given (as in Keras: they are the loop's results).

    >>> import nerve.utils.progbar as progbar_module
    >>> times = iter([0.0, 2.0, 4.0, 5.0])
    >>> progbar_module._clock = lambda: next(times)
    >>> bar = progbar_module.Progbar(target=4, verbose=1, width=6)
    >>> bar.update(1, [("loss", 3.0)])
    <BLANKLINE>
    1/4 ━░░░░░ 6s 2s/step - loss: 3.0000
    >>> bar.add(2, [("loss", 0.0)])
    <BLANKLINE>
    3/4 ━━━━░░ 1s 1s/step - loss: 1.0000
    >>> bar.update(4, [("loss", 0.9)])
    <BLANKLINE>
    4/4 ━━━━━━ 5s 1s/step - loss: 0.9000
    >>> import time; progbar_module._clock = time.monotonic
    """

    def __init__(
        self,
        target: int | None,
        width: int = 20,
        verbose: int = 1,
        interval: float = 0.05,
        stateful_metrics: Sequence[str] | None = None,
        unit_name: str = "step",
        stateless_metrics: Sequence[str] | None = None,
    ):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Progbar: pass `stateful_metrics` (names shown as given; others averaged) "
                "or `stateless_metrics` (names averaged; others shown as given), not both."
            )
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics or ())
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self._dynamic_display = _is_terminal()
        self._values: dict[str, Any] = {}
        self._values_order: list[str] = []
        self._compile_time: float | None = None
        self._seen_so_far = 0
        self._prev_total_width = 0
        self._start = _clock()
        self._last_update = 0.0
        self._time_after_first_step: float | None = None

    def update(
        self,
        current: int,
        values: Sequence[tuple[str, Any]] | None = None,
        finalize: bool | None = None,
    ) -> None:
        """Move the bar to step ``current`` and record ``values`` for the steps since the
        previous update. ``finalize`` (default: ``current >= target``) ends the bar."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or ():
            if name == COMPILE_TIME_KEY:
                self._compile_time = float(_to_float(value))
                continue
            value = _to_float(value)
            if name not in self._values_order:
                self._values_order.append(name)
            if self.stateless_metrics is not None:
                averaged = name in self.stateless_metrics
            else:
                averaged = name not in self.stateful_metrics
            if not averaged or not isinstance(value, float):
                self._values[name] = value
            elif finalize:
                # The final values (an epoch's logs) are already the epoch's results.
                self._values[name] = (value, 1)
            else:
                # Weight by the steps this value covers (at least one: an epoch-end update
                # may repeat the last step).
                steps = max(current - self._seen_so_far, 1)
                total, count = self._values.get(name, (0.0, 0))
                self._values[name] = (total + value * steps, count + steps)
        self._seen_so_far = current

        now = _clock()
        time_per_unit = self._estimate_step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._print_bar(current, now, time_per_unit, finalize)
        elif self.verbose == 2 and finalize:
            self._print_line(current, now, time_per_unit)
        self._last_update = now

    def add(self, n: int, values: Sequence[tuple[str, Any]] | None = None) -> None:
        """Advance the bar by ``n`` steps."""
        self.update(self._seen_so_far + n, values)

    # -- rendering ----------------------------------------------------------------------
    def _style(self, text: str, style: str) -> str:
        return f"{style}{text}{_RESET}" if self._dynamic_display else text

    def _metrics_text(self) -> str:
        text = ""
        if self._compile_time is not None:
            seconds = self._compile_time
            text += (
                f" - compile: {seconds:.1f}s"
                if seconds >= 1
                else f" - compile: {seconds * 1e3:.0f}ms"
            )
        for name in self._values_order:
            value = self._values[name]
            if isinstance(value, tuple):
                value = value[0] / max(value[1], 1)
            text += f" - {name}: {_format_value(value)}"
        return text

    def _print_bar(self, current: int, now: float, time_per_unit: float, finalize: bool) -> None:
        if self.target is not None:
            digits = int(math.log10(self.target)) + 1 if self.target > 0 else 1
            count = f"{current:{digits}d}/{self.target}"
            filled = int(self.width * current / self.target) if self.target > 0 else self.width
            filled = min(filled, self.width)
            if self._dynamic_display:
                rest = self._style("━" * (self.width - filled), _GREY)
                done = self._style("━" * filled, _GREEN) if filled else ""
            else:
                done, rest = "━" * filled, "░" * (self.width - filled)
            bar = f"{self._style(count, _BOLD)} {done}{rest}"
            plain_bar_width = len(count) + 1 + self.width
        else:
            bar = f"{current:7d}/Unknown"
            plain_bar_width = len(bar)
        if self.target is not None and not finalize:
            elapsed_or_eta = _format_duration(time_per_unit * (self.target - current))
        else:
            elapsed_or_eta = f"{now - self._start:.0f}s"
        info = f" {self._style(elapsed_or_eta, _BOLD)} "
        info += _format_time_per_unit(time_per_unit, self.unit_name) + self._metrics_text()
        plain_width = (
            plain_bar_width + len(info) - (len(_BOLD) + len(_RESET)) * (self._dynamic_display)
        )

        # On a terminal, go back and redraw the line (padding over a longer previous one);
        # elsewhere, each redraw is a new line.
        message = ("\b" * self._prev_total_width + "\r") if self._dynamic_display else "\n"
        message += bar + info
        if self._dynamic_display and self._prev_total_width > plain_width:
            message += " " * (self._prev_total_width - plain_width)
        if finalize:
            message += "\n"
        self._prev_total_width = plain_width
        sys.stdout.write(message)
        sys.stdout.flush()

    def _print_line(self, current: int, now: float, time_per_unit: float) -> None:
        target = self.target if self.target is not None else current
        digits = int(math.log10(target)) + 1 if target > 0 else 1
        line = f"{current:{digits}d}/{target} - {now - self._start:.0f}s - "
        line += _format_time_per_unit(time_per_unit, self.unit_name) + self._metrics_text()
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def _estimate_step_duration(self, current: int, now: float) -> float:
        """Seconds per step; after the first step, the first (slow: tracing) is left out."""
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit
