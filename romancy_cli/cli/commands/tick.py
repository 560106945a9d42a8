"""`romancy tick`: fire due timers and timeouts, resume runnable and recovered instances."""

import logging
import signal
import time
from typing import Annotated, Any, Optional

import typer

from ...errors import StorageFault, UsageError
from .. import output
from ..common import command
from ..inputs import duration, later, timestamp
from ..logs import LogFormatOption, check_format
from ..state import state, user_output

DEFAULT_INTERVAL = "5s"
MAX_INTERVAL = 7 * 86400.0  # the longest sleep of --loop: more is a typo, and the OS refuses centuries


def register(app: typer.Typer) -> None:
    @command(app, "tick")
    def tick(
        advance: Annotated[Optional[str], typer.Option(
            "--advance", metavar="D", help="Move this database's virtual clock on by D (e.g. 1h), then tick: "
            "advances add up, and every command reads that clock until --reset-clock. What runs is "
            "recorded at the virtual time (updated_at, ctx.now()).",
            show_default=False)] = None,
        now: Annotated[Optional[str], typer.Option(
            "--now", metavar="T", help="Set the virtual clock to T (RFC 3339, or epoch seconds), then tick.",
            show_default=False)] = None,
        reset_clock: Annotated[bool, typer.Option(
            "--reset-clock", help="Set the virtual clock back to the real time, then tick.")] = False,
        loop: Annotated[bool, typer.Option(
            "--loop", help="Keep ticking until Ctrl-C, sleeping until the next due time or --interval.")] = False,
        interval: Annotated[str, typer.Option(
            "--interval", metavar="D", help="With --loop: longest sleep between ticks.")] = DEFAULT_INTERVAL,
        log_format: LogFormatOption = "text",
    ) -> None:
        """Fire due timers and timeouts, resume runnable instances; cron-friendly.

        Also retries parked instances, recovers those left by crashed workers, and relays the due
        events of the outbox. Exit 0 also when
        nothing was due; a workflow that fails is reported in the summary, not as an error."""
        if sum((advance is not None, now is not None, reset_clock)) > 1:
            raise UsageError("give one of --advance, --now and --reset-clock")
        if check_format(log_format):
            if not loop:
                raise UsageError("--log-format json is for --loop; a single tick answers with --json")
            state().use_json_logs()
        shift = later(advance, "--advance")
        at = timestamp(now, "--now") if now is not None else None
        every = duration(interval, "--interval", MAX_INTERVAL) or 0.0
        if loop and (shift is not None or at is not None or reset_clock):
            raise UsageError("--loop ticks on the database's clock as it is; move the clock with a "
                             "`romancy tick --advance/--now/--reset-clock` of its own")
        cli = state()
        cli.load_workflows()
        if cli.database_missing() and not loop and shift is None and at is None and not cli.declares_schedules():
            _report(None, empty=True)
            return
        romancy = cli.app()
        if loop:
            _loop(romancy, every, log_format == "json")
            return
        _move_clock(romancy, shift, at, reset_clock)
        _report(_tick_once(romancy))
        _relay(romancy)


def _move_clock(romancy: Any, shift: Optional[float], at: Optional[float], reset: bool) -> None:
    if shift is not None:
        romancy.advance_clock(shift)
    elif at is not None:
        romancy.set_clock(at)
    elif reset:
        romancy.reset_clock()
    else:
        return
    from ..render import clock_line

    output.say(clock_line(romancy.clock_offset, romancy.now()))


def _tick_once(romancy: Any) -> Any:
    with user_output():
        return romancy.tick()


def _relay(romancy: Any, json_logs: bool = False) -> None:
    """Send the events workflows published with a target that are due (the outbox), once each."""
    from ...relay import Relay

    attempts = Relay(romancy, state().settings.outbox).relay_due()
    if attempts and json_logs:
        log.info("relay: %d attempt(s)", attempts)
    elif attempts:
        output.say(f"[dim]relay: {attempts} attempt(s); `romancy outbox` shows how each went[/]")


log = logging.getLogger("romancy.tick")  # the lines of `--loop --log-format json`


def _loop(romancy: Any, every: float, json_logs: bool) -> None:
    if json_logs:
        log.info("ticking every ≤%s", interval_text(every))
    else:
        output.say(f"[dim]ticking every ≤{output.esc(interval_text(every))}; Ctrl-C stops[/]")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a supervisor's stop is a Ctrl-C
    try:
        while True:
            try:
                result = _tick_once(romancy)
                _relay(romancy, json_logs)
            except StorageFault as fault:  # nothing was lost: the next tick tries again
                if json_logs:
                    log.warning("%s; ticking again in %s", fault, interval_text(every))
                else:
                    output.warn(f"{fault}; ticking again in {interval_text(every)}")
                time.sleep(every)
                continue
            if (result.fired or result.resumed) and json_logs:
                _log_report(result)
            elif result.fired or result.resumed:
                _report(result)
            wake = result.next_wake
            pause = every if wake is None else min(every, max(0.0, wake - romancy.now()))
            time.sleep(max(pause, 0.01))
    except KeyboardInterrupt:
        if json_logs:
            log.info("stopped")
        else:
            output.say("[dim]stopped[/]")


def _log_report(result: Any) -> None:
    from ...times import iso

    for iid, status in result.resumed.items():
        log.info("resumed %s → %s", iid, status, extra={"instance_id": iid, "status": status})
    due = iso(result.next_wake)
    log.info("fired %d, resumed %d", len(result.fired), len(result.resumed),
             extra={"fired": len(result.fired), "resumed": len(result.resumed), "next_due_at": due})


def interval_text(seconds: float) -> str:
    from ...durations import describe

    return describe(seconds)


def _report(result: Any, empty: bool = False) -> None:
    if state().json:
        from ...views import tick_view

        output.print_json(tick_view(result) if result is not None else
                          {"fired": [], "resumed": [], "next_due_at": None})
        return
    if empty:
        output.say("  nothing due (no database yet)")
        return
    from ..render import when

    esc = output.esc
    fired, resumed = len(result.fired), len(result.resumed)
    summary = f"  fired {fired}, resumed {resumed}"
    summary += f"; next due at {esc(when(result.next_wake))}" if result.next_wake else "; nothing else scheduled"
    output.say(summary)
    for iid, status in result.resumed.items():
        output.say(f"    {esc(iid)} → {esc(status)}")
