"""llmrun: run one LLM request with tools, end to end, from a shell."""

__version__ = "0.1.0"
