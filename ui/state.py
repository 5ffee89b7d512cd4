"""The UI's whole state, and the functions that change it. No terminal, no sockets.

The public face of ui/tui/: `reduce(state, header, body)` applies one incoming message;
`submit_input(state, text)` what the person typed; `handle_key(state, code)` one key. None of
them does I/O: messages to send go on `state.outbox`, history lines on `state.history_out`.
app.py owns sockets, files and the terminal; views.py only reads this state.
"""

from __future__ import annotations

from ui.tui.commands import (  # noqa: F401
    submit_input,
)
from ui.tui.editing import (  # noqa: F401
    input_complete,
    sql_complete,
)
from ui.tui.handle import (  # noqa: F401
    do_action,
    grid_key,
    handle_key,
    palette_items,
)
from ui.tui.model import (  # noqa: F401
    MAX_HISTORY,
    AskModal,
    ConfirmModal,
    HelpModal,
    LogEntry,
    ModeModal,
    PaletteModal,
    PaneState,
    PasswordModal,
    ResultView,
    UiState,
    new_state,
    target,
)
from ui.tui.reduce import (  # noqa: F401
    activity,
    busy,
    on_unreadable,
    reduce,
)
from ui.tui.session import (  # noqa: F401
    reload_config,
    start,
)
