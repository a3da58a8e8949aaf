"""Read files within bounds: regular files only, of bounded size, JSON of bounded nesting.

:func:`open_regular_file` refuses at once what is not a regular file: model files, measurement
CSVs and catalog TOML files are opened with it, so a FIFO (which would block forever) or
``/dev/zero`` (which would stream forever) is a one-line error. Every JSON document gpurec reads
from a model directory — ``config.json``, ``hf_quant_config.json``, ``model.safetensors.index.json``
and the safetensors headers, local, from the HF cache or just downloaded from the Hub — goes
through :func:`read_json_file` (or :func:`parse_json_bytes` for a header cut out of its file).
Unbounded, Python would allocate whatever a size claims, recurse into a RecursionError on deep
nesting, or refuse a 4,300-digit integer with a ValueError; here each is a one-line
:class:`ModelConfigError` naming the file.
"""

from __future__ import annotations

import itertools
import json
import os
import stat
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from gpurec_core.errors import GpurecError, ModelConfigError

MAX_JSON_FILE_BYTES = 16 * 2**20
"""Largest JSON config accepted: real config.json / hf_quant_config.json files are a few KiB."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted: real configs nest three or four levels."""

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_ONLY_BRACKETS = str.maketrans({chr(c): None for c in range(128) if chr(c) not in "[]{}"})
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def read_json_file(path: Path, max_bytes: int = MAX_JSON_FILE_BYTES) -> Any:
    """The JSON value in ``path``: a regular file of at most ``max_bytes``, UTF-8, nested at most
    :data:`MAX_JSON_DEPTH` deep. ModelConfigError naming the file otherwise."""
    with open_regular_file(path) as (handle, size):
        if size > max_bytes:
            raise ModelConfigError(f"{path} is {size:,} bytes, more than the {max_bytes:,} accepted; "
                                   "it is not a model file: fix or re-download it.")
        raw = handle.read(size + 1)
    if len(raw) > size:
        raise ModelConfigError(f"{path} grew while it was read; read it again once it is complete.")
    return parse_json_bytes(raw, path)


@contextmanager
def open_regular_file(path: Path, error: type[GpurecError] = ModelConfigError) -> Iterator[tuple[BinaryIO, int]]:
    """``path`` open for binary reading, with its size; ``error`` naming the file unless it is a
    readable regular file (read errors inside the block become one too).

    It is opened non-blocking and checked on the open descriptor (``stat.S_ISREG``), so a FIFO, a
    device or a directory named like a file is refused at once: it never blocks or streams."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as err:
        raise error(f"Cannot read {path}: {err.strerror or err}.") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path} is {file_kind(info.st_mode)}, not a regular file; name an ordinary file.")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            yield handle, info.st_size
    except OSError as err:
        raise error(f"Cannot read {path}: {err.strerror or err}.") from None
    finally:
        os.close(fd)


def file_kind(mode: int) -> str:
    """'a directory', 'a FIFO (named pipe)', ... for a file mode that is not a regular file."""
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def parse_json_bytes(raw: bytes, path: Path) -> Any:
    """The JSON value in ``raw`` (read from ``path``, which errors name): UTF-8 text, integers of
    fewer than ``sys.get_int_max_str_digits()`` digits, nesting at most :data:`MAX_JSON_DEPTH` deep."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ModelConfigError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start}); "
                               "expected JSON: fix or re-download the file.") from None
    too_deep = ModelConfigError(f"{path} nests arrays or objects more than {MAX_JSON_DEPTH} deep; "
                                "it is not a model file: fix or re-download it.")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ModelConfigError(f"{path} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); "
                               "fix or re-download the file.") from None
    except RecursionError:
        raise too_deep from None
    except ValueError:  # an integer longer than int's string-conversion limit
        raise ModelConfigError(f"{path} holds an integer of more than {_int_digit_limit()} digits; "
                               "it is not a model file: fix or re-download it.") from None
    if json_depth(text) > MAX_JSON_DEPTH:
        raise too_deep
    return value


def json_depth(text: str) -> int:
    """Deepest nesting of arrays and objects in valid JSON ``text`` (0 for a scalar), brackets inside
    strings ignored; linear time in string operations.

    With escaped backslashes and then escaped quotes removed, every remaining ``"`` opens or closes
    a string, so the text outside strings is every other piece between quotes; outside strings,
    valid JSON holds only ASCII."""
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    brackets = "".join(unescaped.split('"')[::2]).translate(_ONLY_BRACKETS)
    return max(itertools.accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _int_digit_limit() -> int:
    """Python's limit on digits in an int parsed from text (4,300 by default; none before 3.11)."""
    getter = getattr(sys, "get_int_max_str_digits", None)
    return getter() if getter else 4300
