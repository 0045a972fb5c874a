"""The target interpreter's facts as its probe reports them, typed once, here.

The probe (``diagnostics/probe.py``) answers with plain JSON, since it runs in any Python 3.6+;
these records give the rest of the tool attributes instead of string keys. Field names are the
probe's keys, so ``detect --json`` prints the same document. A key the probe did not send is
``None`` (or empty): an older or failing probe costs facts, never a KeyError.
"""

from typing import Dict, List, NamedTuple, Optional, Tuple, Type, TypeVar, Union


class ExternallyManaged(NamedTuple):
    marker: Optional[str] = None
    applies: bool = False
    message: Optional[str] = None


class WheelTags(NamedTuple):
    interpreter: Optional[str] = None
    abis: List[str] = []
    platforms: List[str] = []


class Interpreter(NamedTuple):
    executable: Optional[str] = None
    executable_mtime: Optional[float] = None  # seconds since the epoch, as the file system has it
    version: Optional[str] = None
    release_level: Optional[str] = None
    implementation: Optional[str] = None
    bits: Optional[int] = None
    free_threaded: bool = False
    prefix: Optional[str] = None
    base_prefix: Optional[str] = None
    in_venv: bool = False
    kind: Optional[str] = None
    base_kind: Optional[str] = None
    venv_creator: Optional[str] = None
    site_packages: Optional[str] = None
    paths: Dict[str, Optional[str]] = {}
    has_uv: bool = False
    torch_version: Optional[str] = None  # from its metadata: torch is never imported by the probe
    externally_managed: ExternallyManaged = ExternallyManaged()
    tags: WheelTags = WheelTags()

    @property
    def version_info(self) -> Tuple[int, ...]:
        return tuple(int(part) for part in (self.version or "").split(".") if part.isdigit())


class Ensurepip(NamedTuple):
    available: bool = False
    bundled_pip: Optional[str] = None
    seeds_venv: bool = False
    reason: Optional[str] = None


class PipSetting(NamedTuple):
    value: Union[str, List[str], None] = None
    source: Optional[str] = None  # the file and section, or the environment variable
    exists: Optional[bool] = None  # for a setting that names a file (cert, client-cert): whether it is there


class ConstraintLine(NamedTuple):
    """A line naming torch in one of the constraint files pip's configuration gives (``constraint``)."""

    file: str = ""
    requirement: str = ""  # as the file has it: "torch<=2.14.1"


class PipConfig(NamedTuple):
    files: List[dict] = []
    settings: Dict[str, PipSetting] = {}
    errors: List[dict] = []  # files pip cannot parse (it refuses every command then): path and error
    looked_in: List[str] = []  # every file pip would read, in order, there or not
    torch_constraints: List[ConstraintLine] = []


class Pip(NamedTuple):
    present: bool = False
    version: Optional[str] = None
    location: Optional[str] = None
    ensurepip: Ensurepip = Ensurepip()
    config: PipConfig = PipConfig()


class CaBundle(NamedTuple):
    source: str = ""
    path: Optional[str] = None
    exists: bool = False
    # A directory (OpenSSL's capath, SSL_CERT_DIR): whether it holds a certificate under a hashed name, all OpenSSL reads there.
    holds_certificates: Optional[bool] = None


class Tls(NamedTuple):
    ssl_importable: bool = False
    ssl_error: Optional[str] = None
    ssl_extension: Optional[str] = None
    openssl_version: Optional[str] = None
    openssl_version_info: List[int] = []
    ca_bundles: List[CaBundle] = []
    proxies: Dict[str, str] = {}


Record = TypeVar("Record")


def _record(cls: Type[Record], raw: Optional[dict], **parsed) -> Record:
    raw = raw or {}
    return cls(**{field: raw[field] for field in cls._fields if field in raw and raw[field] is not None}, **parsed)


def parse_interpreter(raw: Optional[dict]) -> Optional[Interpreter]:
    if raw is None:
        return None
    return _record(
        Interpreter,
        {key: value for key, value in raw.items() if key not in ("externally_managed", "tags")},
        externally_managed=_record(ExternallyManaged, raw.get("externally_managed")),
        tags=_record(WheelTags, raw.get("tags")),
    )


def parse_pip(raw: Optional[dict]) -> Optional[Pip]:
    if raw is None:
        return None
    config = raw.get("config") or {}
    settings = {key: _record(PipSetting, value) for key, value in (config.get("settings") or {}).items()}
    return _record(
        Pip,
        {key: value for key, value in raw.items() if key not in ("ensurepip", "config")},
        ensurepip=_record(Ensurepip, raw.get("ensurepip")),
        config=PipConfig(
            config.get("files") or [],
            settings,
            config.get("errors") or [],
            config.get("looked_in") or [],
            [_record(ConstraintLine, line) for line in config.get("torch_constraints") or []],
        ),
    )


def parse_tls(raw: Optional[dict]) -> Optional[Tls]:
    if raw is None:
        return None
    return _record(
        Tls, {key: value for key, value in raw.items() if key != "ca_bundles"}, ca_bundles=[_record(CaBundle, b) for b in raw.get("ca_bundles") or []]
    )
