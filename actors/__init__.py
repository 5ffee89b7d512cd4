"""One package per process kind: supervisor (+ _session), guard/, planner/, executor/, and
the exporter; all run on the runtime (_runtime: the OTP-style loop; _preload: the
forkserver's warm-up).

A package actor (actors/X/) imports only itself, the runtime and protocol; a flat module its
own family (X, X_*); never ui/ or another actor (tests/unit/test_layering.py). They talk
through messages. The supervisor starts each by its module name (supervisor_tree.MOVED maps the
old names)."""
