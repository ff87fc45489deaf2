"""The run log: every run kept in one SQLite file, written as the run goes.

`recorder.py` is the consumer of a run's events that writes it; `schema.py` the tables and
their versions; `store.py` opening the file safely; `queries.py`, `conversation.py` and
`replay.py` read it back (for `llmrun log`, `ask --continue` and `log cassette`). Only the
standard library and `llmrun.base` are imported here, and `sqlite3` only when a log is opened.
"""
