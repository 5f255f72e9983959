"""Why the studio refused an audio file.

Every error has a stable machine ``code`` for programs and a human ``message`` for people:
what was expected, what was found and what to do next.

Codes
-----
``unsupported``
    Not audio, or audio in a format the studio does not read.
``too_many_channels``
    More channels than the studio takes (it takes mono or stereo stems).
``sample_rate``
    A sample rate outside the range the studio takes.
``empty``
    A file of 0 bytes, or one that holds no audio frames.
``truncated``
    The file stops before the end of the audio its header declares.
``corrupt``
    Damaged in some other way: the header is impossible or the decoder fails.
``too_long``
    Longer than the limit the caller set.
"""

from __future__ import annotations


class AudioError(Exception):
    """An audio file the studio cannot accept.

    Parameters
    ----------
    message : str
        What was expected, what was found and what to do next.
    code : str, optional
        Stable machine code; defaults to the class's ``code``.
    """

    code = "audio"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        """Return ``{"code": ..., "message": ...}``, ready for JSON."""
        return {"code": self.code, "message": self.message}


class UnsupportedAudio(AudioError):
    """Not audio, or audio the studio does not read."""

    code = "unsupported"


class CorruptAudio(AudioError):
    """Audio that is empty, truncated or damaged."""

    code = "corrupt"


class AudioTooLong(AudioError):
    """Audio longer than the limit the caller set."""

    code = "too_long"


class TooManyChannels(UnsupportedAudio):
    """More channels than the studio takes: we reject rather than downmix."""

    code = "too_many_channels"
