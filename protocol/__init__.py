"""The wire and everything two processes must agree on: the message spec (messages.py),
envelope, codec, lossless values, the zmq transport, the export byte stream, errors, config,
audit records and SQL texts both sides spell alike (sqltext.py).

Imports nothing of ours (tests/unit/test_layering.py)."""
