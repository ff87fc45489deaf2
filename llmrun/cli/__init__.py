"""The command line: options, subcommands and the wiring of `llmrun ask`.

May import every package below it; nothing imports it (but `llmrun/__main__.py`).
"""
