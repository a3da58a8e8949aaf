"""Calibration profiles: an estimator's factors fitted on a user's own benchmark runs.

``gpurec calibrate FILE... --output PROFILE.toml`` fits, for every (GPU, engine, precision) its runs
cover, the factors of an estimator that those runs constrain (the estimator's plugin does the fit:
hook ``fit_calibration``), and writes them with what they were fitted on, their cross-validated
error before and after, and the residual quantiles that become the uncertainty bands of that GPU.
A scope may also name one model: the factors refitted on that model's runs alone, kept unless they
cross-validate worse on that model than the scope of every model (an engine's kernels for one
architecture, e.g. a MoE's grouped GEMMs, differ from its dense ones); a deployment of that model
uses its own scope first, any other model the scope of every model.

A profile is used when it is named by ``--profile PATH`` (any command that estimates), by the
``GPUREC_PROFILE`` environment variable (paths separated by the OS path separator), or shipped by a
plugin through the ``gpurec.profiles`` entry-point group (the entry point loads to a path, or to a
callable returning paths). The first profile with a scope that matches a deployment wins, in that
order. An estimator reads :func:`scope_for` when it prepares a deployment.
"""

from __future__ import annotations

import os
import pathlib
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from importlib import metadata
from typing import Any, Iterator, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpurec_core.errors import CatalogError

PROFILE_ENV = "GPUREC_PROFILE"
PROFILE_ENTRY_POINTS = "gpurec.profiles"
#: 2: a scope may carry the front end's delivery ceiling read off its runs (``delivery_tokens_per_s``); version 1
#: files are read as before.
SCHEMA_VERSION = 2
#: Any precision (a scope fitted on runs that did not record one).
ANY = "*"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorStats(_Strict):
    """Absolute percentage error of one metric over cross-validated rows."""

    n: int = Field(ge=0)
    median: Optional[float] = Field(default=None, description="median APE, %")
    p90: Optional[float] = Field(default=None, description="90th-percentile APE, %")


class Factor(_Strict):
    """One estimator factor of a scope: its default, and the fitted value (None: left at the default)."""

    name: str = Field(min_length=1)
    default: float
    value: Optional[float] = Field(default=None, description="fitted value; None when the data do not constrain it")
    why: str = Field(default="", description="why it was not fitted, when it was not")


class Scope(_Strict):
    """The runs of one GPU, engine and weight precision (and model, or every model), and what was fitted on them."""

    gpu: str = Field(min_length=1, description="GPU name as gpurec's catalog spells it")
    engine: str = Field(min_length=1)
    precision: str = Field(min_length=1, description="weight precision label of the runs, or '*'")
    model: str = Field(default=ANY, min_length=1, description="the model id these factors were refitted on, or '*' "
                       "(every model of the runs)")
    rows: int = Field(ge=0)
    configurations: int = Field(ge=0, description="distinct deployments x lengths (all concurrencies of one count once)")
    folds: int = Field(ge=0, description="cross-validation folds over configurations (0: too few to validate)")
    factors: tuple[Factor, ...] = ()
    error_before: dict[str, ErrorStats] = Field(default_factory=dict, description="cross-validated, default factors")
    error_after: dict[str, ErrorStats] = Field(default_factory=dict, description="cross-validated, fitted factors")
    bands: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="metric -> 10th and 90th percentile of ln(measured / predicted) over the "
        "cross-validation residuals: the p10-p90 band factors of this scope's estimates")
    delivery_tokens_per_s: Optional[float] = Field(
        default=None, gt=0, description="the front end's delivery ceiling read off the runs (output tokens/s per "
        "replica: the highest rate a run delivered, where enough runs are predicted above it); None: no plateau")
    delivery_read: str = Field(default="", description="what the runs showed of a delivery ceiling")

    def fitted(self) -> dict[str, float]:
        """Factor name -> value, for the factors the data constrained (the delivery ceiling where they show one)."""
        values = {f.name: f.value for f in self.factors if f.value is not None}
        if self.delivery_tokens_per_s is not None:
            values["delivery_tokens_per_s"] = self.delivery_tokens_per_s
        return values

    def matches(self, gpu: str, engine: str, precision: str, model: Optional[str] = None) -> bool:
        return (self.gpu.lower() == gpu.lower() and self.engine == engine
                and self.precision in (ANY, precision)
                and (self.model == ANY or (model is not None and self.model.lower() == model.lower())))

    def label(self) -> str:
        """``GPU/engine/precision``, and ``[model]`` for a scope of one model."""
        return f"{self.gpu}/{self.engine}/{self.precision}" + ("" if self.model == ANY else f" [{self.model}]")


class Profile(_Strict):
    """A calibration profile file."""

    schema_version: int = Field(ge=1, le=SCHEMA_VERSION)
    estimator: str = Field(min_length=1)
    created: str = Field(description="date the profile was written")
    files: tuple[str, ...] = Field(default=(), description="the benchmark files it was fitted on")
    file_dates: tuple[str, ...] = Field(default=(), description="dates the runs record, where they do")
    scopes: tuple[Scope, ...] = ()
    path: str = Field(default="", description="where it was read from (filled on load)")

    def scope(self, gpu: str, engine: str, precision: str, model: Optional[str] = None) -> Optional[Scope]:
        """The scope of this model if the profile has one, else the scope of every model."""
        matching = [s for s in self.scopes if s.matches(gpu, engine, precision, model)]
        return next((s for s in matching if s.model != ANY), matching[0] if matching else None)

    def describe(self) -> str:
        """One line: where the profile is, what it was fitted on."""
        where = ", ".join(f"{s.label()} ({s.rows} rows, {s.configurations} configurations)"
                          for s in self.scopes) or "no scopes"
        files = f"{len(self.files)} file(s)" + (f" dated {min(self.file_dates)}..{max(self.file_dates)}"
                                                if self.file_dates else "")
        return f"{self.path or 'profile'}: {where}; fitted {self.created} on {files}"


# -- reading and writing ---------------------------------------------------------------------------

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'"{text}"'


def dump_profile(profile: Profile) -> str:
    """The profile as TOML (tomllib reads it back into the same :class:`Profile`)."""
    lines = ["# gpurec calibration profile, written by `gpurec calibrate` (docs/calibrate.md).",
             "# Use it with --profile PATH, GPUREC_PROFILE=PATH, or ship it in a plugin (entry point gpurec.profiles).",
             f"schema_version = {profile.schema_version}", f"estimator = {_toml_value(profile.estimator)}",
             f"created = {_toml_value(profile.created)}", f"files = {_toml_value(list(profile.files))}",
             f"file_dates = {_toml_value(list(profile.file_dates))}"]
    for scope in profile.scopes:
        lines += ["", "[[scopes]]"]
        for key in ("gpu", "engine", "precision", "model", "rows", "configurations", "folds", "delivery_tokens_per_s",
                    "delivery_read"):
            value = getattr(scope, key)
            if (key != "model" or value != ANY) and value not in (None, ""):
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("bands = { " + ", ".join(f"{m} = {_toml_value(list(b))}" for m, b in scope.bands.items()) + " }")
        for name in ("error_before", "error_after"):
            stats = getattr(scope, name)
            inner = ", ".join(f"{m} = {{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in s.model_dump().items()
                                                          if v is not None) + " }" for m, s in stats.items())
            lines.append(f"{name} = {{ {inner} }}")
        for factor in scope.factors:
            lines += ["", "[[scopes.factors]]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in factor.model_dump().items() if v is not None and v != ""]
    return "\n".join(lines) + "\n"


def read_profile(path: str | os.PathLike) -> Profile:
    """A profile file, validated; CatalogError (one line naming the file) when it cannot be used."""
    from gpurec_core.catalogs import TOMLDecodeError, load_toml

    file = pathlib.Path(path)
    if not file.exists():
        raise CatalogError(f"{file}: no such calibration profile (write one with `gpurec calibrate FILE... --output {file}`)")
    try:
        data = load_toml(file)
    except TOMLDecodeError as exc:
        raise CatalogError(f"{file}: not a TOML calibration profile ({exc}); rewrite it with `gpurec calibrate`") from None
    try:
        return Profile.model_validate({**data, "path": str(file)})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CatalogError(f"{file}: entry {where}: {first['msg']} (rewrite it with `gpurec calibrate`)") from None


def check_profile_path(path: str | os.PathLike) -> None:
    """WorkloadError unless a profile can be written at ``path``: its folder exists and is writable, and
    the path is not a folder or a special file (checked before a fit of minutes, not after)."""
    from gpurec_core.errors import WorkloadError

    target = pathlib.Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise WorkloadError(f"cannot write the profile to {str(path)!r:.200}: the folder {str(folder)!r:.200} does not "
                            "exist; create it or choose another --output")
    if target.exists() and not target.is_file():
        raise WorkloadError(f"cannot write the profile to {str(path)!r:.200}: it is not a regular file; choose another "
                            "--output")
    if not os.access(folder if not target.exists() else target, os.W_OK):
        raise WorkloadError(f"cannot write the profile to {str(path)!r:.200}: permission denied; "
                            "choose another --output")


def write_profile(profile: Profile, path: str | os.PathLike) -> None:
    """Write ``profile`` as TOML; an OSError becomes a one-line WorkloadError naming the path."""
    from gpurec_core.errors import WorkloadError

    try:
        pathlib.Path(path).write_text(dump_profile(profile))
    except OSError as exc:
        raise WorkloadError(f"cannot write the profile to {str(path)!r:.200}: {exc.strerror or exc}; choose another "
                            "--output") from None


def today() -> str:
    return date.today().isoformat()


# -- which profiles are in use ---------------------------------------------------------------------

_explicit: list[str] = []


@contextmanager
def using_profiles(paths: list[str]) -> Iterator[None]:
    """Use these profile files (first) for the estimates made inside the block (``--profile``). A bad
    file, among them or in GPUREC_PROFILE, stops the command before any estimate."""
    for path in paths:
        read_profile(path)
    _explicit[:0] = list(paths)
    active_profiles.cache_clear()
    try:
        active_profiles()
        yield
    finally:
        del _explicit[:len(paths)]
        active_profiles.cache_clear()


def _entry_point_paths() -> list[str]:
    paths: list[str] = []
    for ep in sorted(metadata.entry_points(group=PROFILE_ENTRY_POINTS), key=lambda e: e.name):
        try:
            target = ep.load()
            found = target() if callable(target) else target
        except Exception as exc:  # a broken profile plugin must not break estimates
            import warnings

            from gpurec_core.errors import PluginWarning

            warnings.warn(PluginWarning(f"profile entry point {ep.name!r} failed: {type(exc).__name__}: {exc}"),
                          stacklevel=2)
            continue
        paths += [str(p) for p in (found if isinstance(found, (list, tuple)) else [found])]
    return paths


@lru_cache(maxsize=8)
def _active(explicit: tuple[str, ...], env: str) -> tuple[Profile, ...]:
    paths = list(explicit) + [p for p in env.split(os.pathsep) if p.strip()] + _entry_point_paths()
    return tuple(read_profile(p) for p in paths)


def active_profiles() -> tuple[Profile, ...]:
    """The profiles in use, in order of precedence (--profile, GPUREC_PROFILE, plugins)."""
    return _active(tuple(_explicit), os.environ.get(PROFILE_ENV, ""))


active_profiles.cache_clear = _active.cache_clear  # type: ignore[attr-defined]


def scope_for(estimator: str, gpu: str, engine: str, precision: str,
              model: Optional[str] = None) -> Optional[tuple[Profile, Scope]]:
    """The first profile scope for this estimator, GPU, engine and precision (a profile's scope of
    ``model`` before its scope of every model), with its profile."""
    for profile in active_profiles():
        if profile.estimator != estimator:
            continue
        scope = profile.scope(gpu, engine, precision, model)
        if scope is not None:
            return profile, scope
    return None


def describe_active(estimator: str) -> str:
    """What ``gpurec estimators`` and ``--explain`` say about the profiles in use for an estimator."""
    profiles = [p for p in active_profiles() if p.estimator == estimator]
    return "; ".join(p.describe() for p in profiles)
