"""Everything that faces a person (or another agent): front ends of one workflow.

The workflow is written once, in engine.py (sans-IO; its rules in workflow.py). The TUI
(tui/, app.py, views) drives it with keys and dialogs; the headless driver (drive.py) drives
it for the CLI (cli.py, cli_run.py, cli_dba.py + dba.py, cli_batch.py) and for servers of
other agents. Also: records (audit, logs), the demo, formatting, explain rendering, and the
client of the bus (client.py).

May import protocol and ui. host.py is the composition root and the only module that imports
actors/ (to host the supervisor, and the guard's classifier for `pgask check-sql`); the rest
talks to the actors through messages (tests/unit/test_layering.py)."""
