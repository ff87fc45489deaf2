"""Settings: the config file, provider presets and their dialects, and how command line,
environment and file combine. May import tools (to hide key variables) and base.
"""
