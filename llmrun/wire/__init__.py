"""The wire: HTTP to the provider, retries, the chunked body reader, the SSE stream into
the accumulator, cassettes. May import loop, settings, tools, output and base.
"""
