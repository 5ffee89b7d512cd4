"""What the tests and the benchmarks share: an embedded or given PostgreSQL (`pg`), an actor
tree in this process (`tree`), a real terminal under tmux (`tmux`) and the data sets both
measure against (`shop`, `readonly_schema`).

It may import protocol, actors and ui (it drives them as a user would); never tests/, so a
benchmark never depends on a test module. Not shipped (pyproject.toml lists the packages)."""
