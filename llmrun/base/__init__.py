"""The base every stage uses: errors and exit codes, secrets, safe text, signals and
--deadline, safe YAML, the SSE reader. Imports nothing of llmrun.
"""
