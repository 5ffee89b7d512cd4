"""The UI's whole state, and the functions that change it. No terminal, no sockets.

The public face of ui/tui/: `reduce(state, header, body)` applies one incoming message;
`submit_input(state, text)` what the person typed; `handle_key(state, code)` one key. None of
them does I/O: messages to send go on `state.outbox`, history lines on `state.history_out`.
app.py owns sockets, files and the terminal; views.py only reads this state.
"""

from __future__ import annotations

from ui.tui.commands import (  # noqa: F401
    on_catalog,
    remember,
    run_meta,
    submit_input,
)
from ui.tui.dba_jobs import (  # noqa: F401
    backup,
    dba_command,
    restore,
    send_backup,
    show_migrations,
)
from ui.tui.editing import (  # noqa: F401
    SQL_START,
    accept,
    completion,
    history_key,
    input_complete,
    looks_like_sql,
    sql_complete,
    tab_complete,
)
from ui.tui.handle import (  # noqa: F401
    do_action,
    edit_key,
    find_next,
    grid_key,
    handle_key,
    insert_text,
    log_key,
    palette_items,
    paste_mark,
    popup_key,
    run_palette_item,
    search_key,
    sort_results,
)
from ui.tui.jobs import (  # noqa: F401
    ENGINE_PURPOSES,
    advance,
    cancel,
    check_export,
    export,
    finish,
    send_export,
    show_event,
    show_plan,
    show_result,
    start_job,
    stopped,
)
from ui.tui.model import (  # noqa: F401
    MAX_HISTORY,
    MAX_LOG,
    MAX_PANES,
    NUMERIC_TYPES,
    AskModal,
    ConfirmModal,
    Connection,
    HelpModal,
    Job,
    LogEntry,
    Modal,
    ModeModal,
    PaletteItem,
    PaletteModal,
    PaneState,
    PasswordModal,
    Pending,
    ResultView,
    Style,
    UiState,
    elapsed,
    executor,
    fetch_catalog,
    fmt_ms,
    new_state,
    profile_user,
    say,
    say_failure,
    send,
    server_label,
    size_text,
    target,
)
from ui.tui.reduce import (  # noqa: F401
    activity,
    busy,
    on_actor_exited,
    on_unreadable,
    reduce,
)
from ui.tui.session import (  # noqa: F401
    ask_mode,
    close_pane,
    on_reloaded,
    reload_config,
    save_pane,
    send_password,
    set_mode,
    show_history,
    split,
    start,
    use_profile,
    warm,
)
