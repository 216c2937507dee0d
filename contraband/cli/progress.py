"""Progress of long commands: a bar on a terminal (tqdm: done, rate, time left), plain lines
in a log (every ``interval`` seconds and at the end), nothing when asked for quiet.

``progress(label, total, unit)`` makes one bar; ``update(n, **info)`` adds ``n`` units done
(``info`` is shown beside, e.g. ``rows=...``); ``close()`` ends it with a last line.

Commands made of a few long steps (``generate``, ``train``, ``retrain``) print each step as it
ends, stamped with the time since the command started (:func:`steps`)."""

from __future__ import annotations

import sys
import time

INTERVAL = 10.0  # seconds between two plain progress lines


def _amount(n: float, unit: str) -> str:
    if unit == "B":
        return f"{n / 2**20:,.0f} MB"
    return f"{n:,.0f} {unit}"


class _Lines:
    """Plain progress lines for a log (no carriage returns, no escape codes)."""

    def __init__(self, label: str, total, unit: str, stream, interval: float):
        self.label, self.total, self.unit, self.stream, self.interval = label, total, unit, stream, interval
        self.done = 0
        self.info: dict = {}
        self.start = self.last = time.monotonic()
        self.printed = -1

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        text = f"{self.label}: {_amount(self.done, self.unit)}"
        if self.total:
            share = self.done / self.total
            text += f" of {_amount(self.total, self.unit)} ({share:.0%})"
        text += f", {_amount(rate, self.unit)}/s"
        if self.total and 0 < self.done < self.total and rate > 0:
            text += f", {(self.total - self.done) / rate:,.0f} s left"
        text += "".join(f", {k} {v:,}" if isinstance(v, int) else f", {k} {v}" for k, v in self.info.items())
        return text + f" ({elapsed:,.1f} s)"

    def update(self, n: int = 1, **info) -> None:
        self.done += n
        self.info.update(info)
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last, self.printed = now, self.done
            print(self._line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.printed != self.done:
            print(self._line(), file=self.stream, flush=True)


class _Bar:
    def __init__(self, label: str, total, unit: str, stream):
        from tqdm import tqdm

        scale = unit == "B"
        self.bar = tqdm(total=total, desc=label, unit=unit, unit_scale=scale, unit_divisor=1024 if scale else 1000,
                        file=stream, dynamic_ncols=True, leave=True)

    def update(self, n: int = 1, **info) -> None:
        if info:
            self.bar.set_postfix({k: f"{v:,}" if isinstance(v, int) else v for k, v in info.items()}, refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


class _Quiet:
    def update(self, n: int = 1, **info) -> None:
        pass

    def close(self) -> None:
        pass


def steps(echo=None):
    """A ``log(message)`` that prints each step stamped with the seconds since the start."""
    start = time.monotonic()
    echo = echo or (lambda line: print(line, flush=True))

    def log(message: str) -> None:
        echo(f"[{time.monotonic() - start:7.1f} s] {message}")

    return log


def reporter(mode: str = "auto", stream=None, interval: float = INTERVAL):
    """A progress factory: ``mode`` is ``auto`` (a bar on a terminal, else lines), ``bar``,
    ``lines`` or ``none``."""
    stream = stream or sys.stderr
    if mode == "auto":
        mode = "bar" if getattr(stream, "isatty", lambda: False)() else "lines"

    def progress(label: str, total=None, unit: str = "rows"):
        if mode == "none":
            return _Quiet()
        if mode == "bar":
            return _Bar(label, total, unit, stream)
        return _Lines(label, total, unit, stream, interval)

    return progress
