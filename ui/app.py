"""The terminal UI process: `python -m ui.app`, started by `pgask` on its own tty.

Boot record: env PGASK_UI_BOOT = base64(msgpack(protocol.boot.UiBoot)).

It renders and sends messages; it never waits on anything but its own poll. One loop
(asciimatics-ui.md §9, runtime-spike.md §3 B):
    poll(stdin, the DEALER socket, a signal wake-up pipe)
    -> keys: state.handle_key          -> messages: state.reduce (bounded drain)
    -> send state.outbox, save history -> draw at most ~30 times a second (keys at once)
A resize closes and reopens the Screen; everything lives in UiState, so nothing is lost.
Nothing here may crash the UI: key, message and draw handlers are wrapped and logged to
<log_dir>/ui.log. Imports stay light: asciimatics, msgspec and our protocol modules;
protocol.transport (zmq, and trio with it) is imported after the first paint, so the
prompt shows before that cost is paid.
"""

from __future__ import annotations

import base64
import contextlib
import curses
import gc
import os
import signal
import sys
import termios
import time
import traceback
from pathlib import Path
from typing import Any

import msgspec

from protocol import codec
from protocol.boot import UiBoot
from protocol.envelope import Header
from protocol.errors import ProtocolError
from protocol.tracing import log
from ui import approvals
from ui import keys as K
from ui import state as S

FRAME_S = 1 / 30  # redraw budget under a flood of messages
DRAIN_BUDGET_S = 0.008  # socket work per wake-up, so keys are never starved
TICK_S = 0.25  # elapsed-time refresh while something runs


class _GetchShim:
    """Unmapped curses KEY_* codes (Shift+arrows, Ctrl+F5 ...) become negative codes, so they
    are ignored instead of typed as characters (337 would be 'ő'); asciimatics-ui.md §3."""

    def __init__(self, win: Any, known: dict[int, int]) -> None:
        self._win, self._known = win, known

    def getch(self) -> int:
        k = self._win.getch()
        if k >= 256 and k not in self._known and k not in (curses.KEY_RESIZE, curses.KEY_MOUSE):
            return -10000 - k
        return k

    def __getattr__(self, name: str) -> Any:
        return getattr(self._win, name)


def fix_terminal(screen: Any) -> None:
    """Ctrl+Q/S/C/Z/\\ as keys (raw mode, IXON off), a quick Esc, no mouse capture."""
    try:
        fd = sys.stdin.fileno()
        attrs = termios.tcgetattr(fd)
        attrs[0] &= ~(termios.IXON | termios.IXOFF)
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except (termios.error, OSError, ValueError):
        pass
    for call in (lambda: curses.set_escdelay(25), lambda: curses.mousemask(0), curses.raw):
        try:
            call()
        except curses.error:
            pass
    if not isinstance(screen._screen, _GetchShim):  # private attribute; asciimatics 1.15
        screen._screen = _GetchShim(screen._screen, screen._KEY_MAP)
    bracketed_paste(True)


def bracketed_paste(on: bool) -> None:
    """Ask the terminal to mark pastes (\\e[200~ ... \\e[201~), so a pasted multi-line
    statement is one input, not one submission per line; keys.decode turns the marks into keys."""
    with contextlib.suppress(OSError, ValueError):
        os.write(sys.stdout.fileno(), b"\x1b[?2004h" if on else b"\x1b[?2004l")


def usable_term() -> None:
    """Fall back to a TERM curses knows (vt100/dumb/unknown crash in curs_set or setupterm)."""
    term = os.environ.get("TERM", "")
    try:
        curses.setupterm(term or "dumb", sys.stdout.fileno())
        ok = term not in ("", "dumb", "vt100", "vt102") and curses.tigetstr("cup") is not None
    except (curses.error, OSError, ValueError):
        ok = False
    if not ok:
        for fallback in ("xterm-256color", "xterm", "screen"):
            try:
                curses.setupterm(fallback, sys.stdout.fileno())
            except (curses.error, OSError, ValueError):
                continue
            os.environ["TERM"] = fallback
            log.warning("ui.term.replaced", was=term, now=fallback)
            return


class App:
    def __init__(self, boot: UiBoot) -> None:
        self.boot = boot
        self.parent = os.getppid()  # the process hosting the supervisor
        config = boot.load_config()
        self.state = S.new_state(
            config,
            list(boot.profiles),
            welcome=getattr(boot, "welcome", ""),
            session=boot.session,
            model_label=boot.model_label,
        )
        self.hist_dir = Path(boot.state_dir) / "history" if boot.state_dir else None
        self.store_history = config.privacy.store_history
        self.load_history()
        self.sock: Any = None
        self.ctx: Any = None
        self.poller: Any = None
        self.zmq: Any = None
        self.screen: Any = None
        self.theme: dict[str, Any] = {}
        self.dirty = True
        self.last_draw = 0.0
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)  # SIGWINCH wakes the poll
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGHUP, self._on_term)
        self.first_paint_ms: float | None = None
        self.config_path = config_file(config)
        self.config_mtime = _mtime(self.config_path)
        self.config_checked = time.monotonic()

    def watch_config(self) -> None:
        """At most once a second: a changed (or new) config file is read again, so a profile
        added to it can be used without a restart, and the status line says so."""
        now = time.monotonic()
        if now - self.config_checked < 1.0 or self.config_path is None:
            return
        self.config_checked = now
        mtime = _mtime(self.config_path)
        if mtime != self.config_mtime:
            self.config_mtime = mtime
            log.info("ui.config.changed", path=str(self.config_path))
            S.reload_config(self.state, auto=True)
            self.dirty = True

    def _on_term(self, *_: Any) -> None:
        self.state.quit = True

    # -- history ---------------------------------------------------------------------

    def _hist_file(self, profile: str) -> Path | None:
        if self.hist_dir is None:
            return None
        return self.hist_dir / (profile.replace("/", "_") + ".history")

    def load_history(self) -> None:
        if self.hist_dir is None or not self.hist_dir.is_dir():
            return
        for path in self.hist_dir.glob("*.history"):
            items: list[str] = []
            try:
                for line in path.read_text(encoding="utf-8").splitlines():
                    try:
                        items.append(msgspec.json.decode(line, type=str))
                    except msgspec.DecodeError:
                        continue
            except OSError:
                continue
            self.state.history[path.stem] = items[-S.MAX_HISTORY :]

    def copy_out(self) -> None:
        """Texts the person copied go to the terminal's clipboard: OSC 52 (xterm, kitty,
        iTerm2, WezTerm, tmux with set-clipboard on); a terminal without it ignores it."""
        texts, self.state.clipboard_out = self.state.clipboard_out, []
        for text in texts:
            payload = base64.b64encode(text.encode()).decode()
            try:
                os.write(sys.stdout.fileno(), f"\x1b]52;c;{payload}\x07".encode())
            except OSError as exc:
                log.warning("ui.clipboard.unwritten", error=str(exc))

    def save_history(self) -> None:
        out, self.state.history_out = self.state.history_out, []
        if not out or not self.store_history:
            return
        for profile, line in out:
            path = self._hist_file(profile)
            if path is None:
                return
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                with open(path, "a", encoding="utf-8") as f:
                    os.fchmod(f.fileno(), 0o600)
                    f.write(msgspec.json.encode(line).decode() + "\n")
            except OSError as exc:
                log.warning("ui.history.unsaved", error=str(exc))

    # -- socket ----------------------------------------------------------------------

    def connect(self) -> None:
        if self.sock is not None:
            return
        from protocol import transport  # trio comes with it: paid after the first paint

        self.zmq = transport.zmq  # the one zmq import lives in protocol/transport.py
        self.ctx, self.sock = transport.blocking_dealer(self.boot.endpoint, self.boot.identity)
        self.approvals = approvals.announce(self.boot.endpoint, self.boot.identity)
        S.start(self.state)
        self.flush()

    def flush(self) -> None:
        if self.sock is None:
            return
        outbox, self.state.outbox = self.state.outbox, []
        for header, body in outbox:
            if (
                header.src != self.boot.identity
            ):  # the reducer writes "ui"; the bus knows us by this
                header = msgspec.structs.replace(header, src=self.boot.identity)
            try:
                self.sock.send_multipart(codec.encode(header, body), self.zmq.NOBLOCK)
                log.debug(
                    "ui.message.sent",
                    kind=header.kind,
                    dst=header.dst,
                    msg=header.id,
                    trace=header.trace,
                )
            except self.zmq.ZMQError as exc:
                log.error("ui.message.unsent", kind=header.kind, dst=header.dst, error=str(exc))

    def drain(self) -> bool:
        """Receive and reduce for at most DRAIN_BUDGET_S; True when more is waiting."""
        deadline = time.perf_counter() + DRAIN_BUDGET_S
        while time.perf_counter() < deadline:
            try:
                frames = self.sock.recv_multipart(self.zmq.NOBLOCK)
            except self.zmq.Again:
                return False
            self.state.connected = True
            try:
                header, body = codec.decode(frames)
            except ProtocolError as exc:
                log.warning("ui.message.dropped", reason=exc.message)
                header = exc.header if isinstance(exc.header, Header) else None
                if header is None and len(frames) == 2:
                    with contextlib.suppress(ProtocolError):
                        header = codec.decode_header(frames[0])
                if header is not None and S.on_unreadable(self.state, header, exc.to_failure()):
                    self.dirty = True
                    self.flush()
                continue
            try:
                if S.reduce(self.state, header, body):
                    self.dirty = True
            except Exception:
                self.bug("ui.message.failed", kind=header.kind)
            if header.kind == "query.rows":
                # A big result is millions of long-lived lists: left to the cyclic GC, each
                # full collection walks them all (100+ ms pauses while 1M rows stream in).
                # Rows hold no cycles; refcounting frees them when the result is replaced.
                gc.freeze()
        return True

    # -- keys and drawing ------------------------------------------------------------

    def on_key(self, code: int) -> None:
        try:
            if S.handle_key(self.state, code):
                self.dirty = True
        except Exception:
            self.bug("ui.key.failed", key=code)

    def bug(self, event: str, **fields: Any) -> None:
        self.state.crashes += 1
        log.error(event, error=traceback.format_exc(), **fields)
        self.state.status = "Something went wrong in the UI (details in ui.log); it keeps running."
        self.dirty = True

    def paint(self) -> None:
        from ui import views

        try:
            views.draw(self.screen, self.state, self.theme)
            self.screen.refresh()
        except Exception:
            self.state.crashes += 1
            log.error("ui.draw.failed", error=traceback.format_exc())
            try:
                self.screen.refresh()
            except Exception:
                pass
        self.last_draw = time.monotonic()
        self.dirty = False
        if self.first_paint_ms is None:
            self.first_paint_ms = _ms_since_process_start()
            log.info("ui.prompt.shown", ms=self.first_paint_ms)

    # -- the loop --------------------------------------------------------------------

    def run(self, screen: Any) -> str:
        """Until quit ("quit") or a resize ("resize")."""
        from asciimatics.event import KeyboardEvent

        from ui.paint import theme_for

        fix_terminal(screen)
        self.screen, self.theme = screen, theme_for(screen)
        screen.clear()
        self.paint()
        self.connect()
        if self.poller is None:
            self.poller = self.zmq.Poller()
            self.poller.register(sys.stdin.fileno(), self.zmq.POLLIN)
            self.poller.register(self.sock, self.zmq.POLLIN)
            self.poller.register(self.wake_r, self.zmq.POLLIN)
            if self.boot.lease_fd >= 0:
                self.poller.register(self.boot.lease_fd, self.zmq.POLLIN)
        more = False
        last_tick = time.monotonic()
        while True:
            now = time.monotonic()
            timeout = 1000.0
            if S.busy(self.state):
                timeout = max(0.0, TICK_S - (now - last_tick)) * 1000
            if self.dirty:
                timeout = min(timeout, max(0.0, FRAME_S - (now - self.last_draw)) * 1000)
            if more:
                timeout = 0
            ready = dict(self.poller.poll(timeout))
            if os.getppid() != self.parent:  # the supervisor's process is gone (at most 1 s ago)
                return "orphaned"
            if (
                self.boot.lease_fd >= 0
                and self.boot.lease_fd in ready
                and host_gone(self.boot.lease_fd)
            ):
                return "orphaned"  # the session host is gone
            if self.wake_r in ready:
                try:
                    os.read(self.wake_r, 4096)
                except OSError:
                    pass
            codes: list[int] = []
            while True:
                event = screen.get_event()
                if event is None:
                    break
                if isinstance(event, KeyboardEvent):
                    codes.append(event.key_code)
            for code in K.decode(codes):
                self.on_key(code)
            keyed = bool(codes)
            t_drain = time.perf_counter()
            more = self.drain() if (self.sock in ready or more) else False
            t_drained = time.perf_counter()
            if self.state.quit:
                return "quit"
            if screen.has_resized():
                return "resize"
            self.watch_config()
            self.flush()
            self.save_history()
            self.copy_out()
            now = time.monotonic()
            if S.busy(self.state) and now - last_tick >= TICK_S:
                last_tick, self.dirty = now, True
            if self.dirty and (keyed or now - self.last_draw >= FRAME_S):
                self.paint()
                done = time.perf_counter()
                if done - t_drain > 0.025:  # a wake-up this slow shows as key latency
                    log.info(
                        "ui.loop.slow",
                        drain_ms=round((t_drained - t_drain) * 1000, 1),
                        paint_ms=round((done - t_drained) * 1000, 1),
                        keyed=keyed,
                    )

    def close(self) -> None:
        approvals.withdraw_file(getattr(self, "approvals", None))
        if self.sock is not None:
            self.sock.close(linger=0)
            self.ctx.term()


def host_gone(fd: int) -> bool:
    """The session host's lease has ended (it sends nothing else unasked)."""
    import socket

    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def config_file(config: Any) -> Path | None:
    """The file to watch: the one the config came from, else where one would be looked for."""
    if config.source:
        return Path(config.source)
    try:
        from protocol.config import default_config_path

        return Path(os.environ.get("PGASK_CONFIG") or default_config_path())
    except Exception:  # platformdirs missing or no home: nothing to watch
        return None


def _mtime(path: Path | None) -> float:
    try:
        return path.stat().st_mtime_ns if path is not None else 0.0
    except OSError:
        return 0.0


def _ms_since_process_start() -> float:
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return round((time.clock_gettime(time.CLOCK_BOOTTIME) - started) * 1000, 1)
    except (OSError, ValueError, IndexError):
        return -1.0


def load_boot() -> UiBoot:
    raw = os.environ.get("PGASK_UI_BOOT")
    if not raw:
        print("pgask ui: PGASK_UI_BOOT is not set; start the UI with `pgask`.", file=sys.stderr)
        sys.exit(2)
    return msgspec.msgpack.decode(base64.b64decode(raw), type=UiBoot)


ORPHANED = (
    "pgask: the supervisor stopped unexpectedly, so this window cannot go on.\n"
    "A query that was running is stopped by the server (its connection closed with pgask);\n"
    "`pgask audit` shows whether a write committed. Start pgask again; `pgask logs` has details."
)


def tell(text: str) -> None:
    """A last word on the terminal, which may be gone already (its window closed): then the
    log has it, and the UI still cleans up."""
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr)


def main() -> int:
    os.environ.setdefault("ESCDELAY", "25")  # before curses starts, or Esc takes a second
    boot = load_boot()
    log.configure("ui", 1, boot.log_dir)
    log.info("ui.started", profiles=boot.profiles)
    usable_term()
    from asciimatics.screen import Screen

    app = App(boot)
    code = 0
    try:
        while True:
            screen = Screen.open(catch_interrupt=False, unicode_aware=True)
            try:
                outcome = app.run(screen)
            finally:
                bracketed_paste(False)
                screen.close(restore=True)
            if outcome == "orphaned":
                log.error("ui.supervisor.lost")
                tell(ORPHANED)
                code = 1
                break
            if outcome != "resize":
                break
            log.info("ui.screen.resized")
    except Exception:
        log.error("ui.crashed", error=traceback.format_exc())
        tell(f"pgask: the terminal UI failed; details are in ui.log under {boot.log_dir}")
        code = 1
    finally:
        app.save_history()
        app.close()
    log.info("ui.stopped", crashes=app.state.crashes)
    return code


if __name__ == "__main__":
    sys.exit(main())
