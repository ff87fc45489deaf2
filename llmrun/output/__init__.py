"""Output: the plain, --json and --events renderers, the spinner, style, and the guarded
stdout/stderr. May import base only.
"""
