"""Tools the model may call: loaded from YAML files, run as commands, shell snippets or
Python functions."""
