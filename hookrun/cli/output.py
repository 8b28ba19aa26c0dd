"""What the CLI writes goes through the masker (config/masking.py): stdout and stderr are
wrapped once, at the edge, so that no message, plan or error can show a secret value."""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from typing import TextIO

from hookrun.config.masking import Masker


class MaskedStream(io.TextIOBase):
    """A text stream that masks what is written, then hands it to the stream it wraps."""

    def __init__(self, stream: TextIO, mask: Masker) -> None:
        self.stream, self.mask = stream, mask

    def write(self, text: str) -> int:
        self.stream.write(self.mask(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()


def install(env: Mapping[str, str]) -> Masker:
    """Wrap sys.stdout and sys.stderr; the masker learns the config's patterns when it loads."""
    mask = Masker(env)
    sys.stdout = MaskedStream(sys.stdout, mask)
    sys.stderr = MaskedStream(sys.stderr, mask)
    return mask
