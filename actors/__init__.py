"""One module family per process kind: supervisor (+ _session), guard (+ _functions),
planner (a package: actors/planner/), executor (+ _dba, _resolve), exporter; all run on
the runtime (_runtime: the OTP-style loop; _preload: the forkserver's warm-up).

An actor imports its own family, the runtime and protocol only; never ui/ or another actor
(tests/unit/test_layering.py). They talk through messages."""
