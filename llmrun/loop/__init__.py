"""The loop: the conversation, the step accumulator, usage, limits, structured answers and
the tool loop itself. May import settings, tools, output and base.
"""
