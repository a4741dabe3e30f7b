"""``creditdesk demo --scale N``: the generated history, with a progress bar."""

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from creditdesk.cli_support import cli_errors, masked_url
from creditdesk.config import Settings
from creditdesk.demo.history import HistoryStats, write_history


def write_scaled_history(settings: Settings, *, scale: int, seed: int) -> HistoryStats:
    """Write the history into the configured database and report its speed."""
    console = Console(stderr=True)
    columns = (
        *Progress.get_default_columns()[:1],
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with (
        cli_errors(settings),
        Progress(*columns, console=console, transient=True) as bar,
    ):
        task = bar.add_task("writing the credit history", total=scale)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        stats = write_history(
            settings.effective_database_url, scale=scale, seed=seed, progress=progress
        )

    typer.echo(
        f"history written to {masked_url(settings)}: {stats.credits:,} credits, "
        f"{stats.cases:,} cases, {stats.accounts:,} accounts, {stats.rows:,} rows "
        f"in {stats.seconds:.1f} s ({stats.credits_per_second:,} credits/s)"
    )
    typer.echo(
        "the generated rows have no audit entries of their own; one sealed "
        "entry (demo.history_written) records the run"
    )
    return stats
