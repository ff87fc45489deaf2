"""`@FILE` on the command line: `-s @FILE` and a prompt word `@FILE` are that file's text;
`@@word` is the literal `@word`. Only what the user typed is expanded — never standard input,
a job file's values or a batch item, so text that arrives from elsewhere cannot make llmrun
read a file."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence


class AtFiles:
    """Expands words, reading each file within the attachment limit and never a secret path
    (loop/attachments.py's `read_limited`); the config is read once, when first needed."""

    def __init__(self) -> None:
        self._cfg: Any = None
        self._loaded = False

    def word(self, word: str, label: str = "") -> str:
        if word.startswith("@@"):
            return word[1:]
        if len(word) > 1 and word.startswith("@"):
            return self.read(word[1:], label or word)
        return word

    def words(self, words: Sequence[str]) -> List[str]:
        return [self.word(w) for w in words]

    def option(self, value: Optional[str], option: str) -> Optional[str]:
        if value is None:
            return None
        return self.word(value, f"{option} {value}")

    def read(self, path: str, label: str) -> str:
        from llmrun.base.errors import UsageError
        from llmrun.loop.attachments import read_limited
        from llmrun.settings.providers import DEFAULT_ATTACHMENT_LIMIT

        data = read_limited(path, DEFAULT_ATTACHMENT_LIMIT, label, self._config())
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{label}: not UTF-8 text (attach it with -a instead, or write "
                             "@@ for a literal @)") from None
        return text.rstrip("\n")

    def _config(self) -> Any:
        if not self._loaded:
            from llmrun.base.errors import ConfigError
            from llmrun.settings.config import load_config

            self._loaded = True
            try:
                self._cfg = load_config()
            except ConfigError:
                self._cfg = None  # the run reports a broken config
        return self._cfg
