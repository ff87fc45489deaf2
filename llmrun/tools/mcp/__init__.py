"""MCP servers as a tool source: our own small Model Context Protocol client.

Imported only when a server is configured (`--mcp`, `LLMRUN_MCP`, the config's `mcp:`), so
`llmrun --help` and an `ask` without servers never load it. `spec` reads server definitions,
`jsonrpc` speaks the protocol over a transport (`stdio` or `http`), `source` turns a server's
tools into Tools the tool loop runs like any other, and stops every server at the end.
"""
