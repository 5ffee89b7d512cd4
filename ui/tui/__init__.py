"""The terminal UI's state and the pure functions that change it (sans-IO: messages go on
`state.outbox`). ui/state.py is its public face; app.py owns the terminal and sockets,
views.py draws. Imports protocol and ui only, never actors."""
