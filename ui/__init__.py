"""Everything that faces a person: the CLI (cli.py, cli_dba.py, records.py), the headless
front end (headless.py, dba.py), the TUI (app, state = the workflow as a pure reducer,
views, keys), the demo, formatting and explain rendering, and the client to the bus.

host.py is the composition root: it alone imports actors/ (to host the supervisor, and the
guard's classifier for `pgask check-sql`); the rest talks to actors through messages."""
