"""What a media file really is: libmagic on its bytes, then its duration and codecs.

The type comes from the bytes, never the name (an ELF binary named .mp3 is
an executable). Only then is the file handed to mutagen (fast, in-process)
or, for containers mutagen cannot time (webm, amr, avi...), to ffprobe:
both happily report a duration for a binary renamed .mp3, so they are
never asked first.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import magic

__all__ = ["MediaInfo", "is_allowed", "probe", "recorded_at_from_name", "second_opinion", "sniff"]

_NAME_TIME = re.compile(
    r"(?P<y>20\d{2}|19\d{2})-?(?P<m>\d{2})-?(?P<d>\d{2})"
    r"[ _T-]?(?:(?P<H>\d{2})[.:-]?(?P<M>\d{2})(?:[.:-]?(?P<S>\d{2}))?)?"
)


@dataclass(frozen=True)
class MediaInfo:
    """A recording's facts."""

    mime: str
    duration_seconds: float | None
    container: str = ""
    codec: str = ""
    recorded_at: datetime | None = None


# Formats libmagic 5.44 does not know: (offset, signature) pairs that must all match.
_EXTRA_SIGNATURES: list[tuple[tuple[tuple[int, bytes], ...], str]] = [
    (((0, b"RIFF"), (8, b"QLCM")), "audio/qcelp"),  # Qualcomm PureVoice (phone recordings)
]


def sniff(head: bytes) -> str:
    """The MIME type read from the first bytes: libmagic, then a few signatures it lacks."""
    if not head:
        return "application/x-empty"
    found = str(magic.from_buffer(head, mime=True))
    if found == "application/octet-stream":
        for checks, mime in _EXTRA_SIGNATURES:
            if all(head[offset : offset + len(sig)] == sig for offset, sig in checks):
                return mime
    return found


def is_allowed(mime: str, patterns: list[str]) -> bool:
    """Whether `mime` matches one of the allowed patterns ('audio/*', 'video/mp4')."""
    return any(fnmatch.fnmatch(mime, pattern) for pattern in patterns)


def _tag_time(value: str) -> datetime | None:
    match = _NAME_TIME.search(value)
    if match is None:
        return None
    try:
        return datetime(
            int(match["y"]),
            int(match["m"]),
            int(match["d"]),
            int(match["H"] or 0),
            int(match["M"] or 0),
            int(match["S"] or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def recorded_at_from_name(name: str) -> datetime | None:
    """A timestamp in a file name: 2026-03-06_14-30-00, 20260306T1430, 2026-03-06."""
    return _tag_time(name)


def _mutagen(path: Path) -> tuple[float | None, str, str, datetime | None]:
    import mutagen

    try:
        media = mutagen.File(path)
    except Exception:
        return None, "", "", None
    if media is None or media.info is None:
        return None, "", "", None
    length = getattr(media.info, "length", None)
    codec = getattr(media.info, "codec", "") or ""
    container = type(media).__name__.lower()
    when = None
    for key in ("TDRC", "©day", "date", "DATE", "creation_time"):
        try:
            value = media.tags.get(key) if media.tags is not None else None
        except (ValueError, KeyError, TypeError):  # some tag formats refuse unknown keys
            value = None
        if value:
            when = _tag_time(str(value[0] if isinstance(value, list) else value))
            if when:
                break
    return (float(length) if length else None), container, str(codec), when


def _ffprobe(path: Path) -> tuple[float | None, str, str, datetime | None]:
    exe = shutil.which("ffprobe")
    if exe is None:
        return None, "", "", None
    try:
        done = subprocess.run(
            [
                exe,
                "-v",
                "error",
                "-print_format",
                "json",
                "-show_format",
                "-show_streams",
                str(path),
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        data = json.loads(done.stdout or b"{}")
    except (subprocess.TimeoutExpired, json.JSONDecodeError, OSError):
        return None, "", "", None
    fmt = data.get("format", {})
    streams = data.get("streams", [])
    duration = fmt.get("duration") or next(
        (s.get("duration") for s in streams if s.get("duration")), None
    )
    codec = ",".join(sorted({s.get("codec_name", "") for s in streams if s.get("codec_name")}))
    when = _tag_time(str(fmt.get("tags", {}).get("creation_time", "")))
    try:
        seconds = float(duration) if duration is not None else None
    except ValueError:
        seconds = None
    return seconds, str(fmt.get("format_name", "")), codec, when


# What libmagic names with certainty as something else: never handed to a probe.
_NOT_MEDIA = (
    "text/",
    "message/",
    "inode/",
    "application/x-executable",
    "application/x-sharedlib",
    "application/x-pie-executable",
    "application/x-mach-binary",
    "application/x-dosexec",
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-tar",
    "application/x-7z-compressed",
    "application/x-rar",
    "application/vnd.",
    "application/pdf",
    "application/x-empty",
    "application/json",
    "application/javascript",
    "application/x-shellscript",
    "application/msword",
)
_SURE = 50  # ffprobe's probe_score: 100 a certain match; guesses at random bytes score 1-25


def second_opinion(path: Path, mime: str) -> str | None:
    """An audio or video type for a file libmagic could not place (MPEG-TS, odd MP3s...).

    Asked only when libmagic is unsure, never for what it names as something
    else (an executable, a script, an archive): ffprobe must place the
    container itself with confidence and find an audio or video stream with
    a duration over 0. None: not media.
    """
    exe = shutil.which("ffprobe")
    if exe is None or mime.startswith(_NOT_MEDIA):
        return None
    try:
        done = subprocess.run(
            [exe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
             str(path)],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        data = json.loads(done.stdout or b"{}")
    except (subprocess.TimeoutExpired, json.JSONDecodeError, OSError):
        return None
    fmt = data.get("format", {})
    name = str(fmt.get("format_name", "")).split(",")[0]
    streams = [
        s
        for s in data.get("streams", [])
        if s.get("codec_type") in ("audio", "video")
        and not s.get("disposition", {}).get("attached_pic")
    ]
    try:
        duration = float(fmt.get("duration") or 0)
    except ValueError:
        duration = 0.0
    if int(fmt.get("probe_score") or 0) < _SURE or not streams or duration <= 0:
        return None
    if not name or "image" in name or name.endswith("_pipe"):
        return None
    kind = "video" if any(s["codec_type"] == "video" for s in streams) else "audio"
    return f"{kind}/x-{name}"


def probe(path: Path, mime: str) -> MediaInfo:
    """Duration, container, codec and tagged recording time of a file already sniffed as media."""
    duration, container, codec, when = _mutagen(path)
    if not duration or duration <= 0:
        duration, container, codec, when = _ffprobe(path)
    return MediaInfo(mime, duration if duration and duration > 0 else None, container, codec, when)
