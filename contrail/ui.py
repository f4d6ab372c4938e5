"""What people see while boxes build: a live line per role on a terminal, plain lines elsewhere
(CI logs), and with --verbose the underlying tool's own output, prefixed with the role."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


class BuildProgress:
    def __init__(self, console: Console, *, verbose: bool) -> None:
        self.console = console
        self.verbose = verbose
        self.live = console.is_terminal and not verbose
        self._progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("[bold]{task.fields[name]:<11}"),
            TextColumn("{task.description}", markup=False),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> BuildProgress:
        if self.live:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self.live:
            self._progress.stop()

    def start(self, name: str, text: str) -> None:
        with self._lock:
            self._started[name] = time.monotonic()
            self._tasks[name] = self._progress.add_task(text, name=name, total=None)
        if not self.live:
            self.console.print(f"[bold]{name}[/]: {text}", highlight=False)

    def status(self, name: str, text: str) -> None:
        """A step of `name`'s work: shown in place on a terminal."""
        if self.live and name in self._tasks:
            self._progress.update(self._tasks[name], description=text[:100])

    def tool_line(self, name: str, text: str) -> None:
        """One line of the underlying tool's output: streamed only with --verbose."""
        if self.verbose:
            self.console.print(f"{name:>11} | {text}", markup=False, highlight=False)

    def finish(self, name: str, ok: bool, text: str) -> None:
        seconds = time.monotonic() - self._started.get(name, time.monotonic())
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        if self.live and name in self._tasks:
            self._progress.update(self._tasks[name], description=text, total=1, completed=1)
        else:
            self.console.print(f"{mark} [bold]{name}[/]: {text} ({seconds:.1f} s)", highlight=False)
