"""The one settings object of a Portail instance.

Read from environment variables (``PORTAIL_*``) and an optional ``portail.toml`` in the
instance directory. Nothing else in the code base reads the environment: every component
takes what it needs from a ``Settings`` value passed to it, so tests can build instances
side by side.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource
from pydantic_settings import SettingsError as UndecodedSetting


#: ``Settings.fetch_timeout``'s default: a 2 GB source at 0.6 MB/s.
FETCH_TIMEOUT = 3600.0


class Portal(BaseModel):
    """One portal served by the instance: where it answers, who may enter, how it looks.

    ``id`` is what a dataset's ``portals`` list names. A portal answers under ``prefix`` (``/``
    or ``/interne/``), and also at the root of ``hostname`` when one is set. ``policy``:
    ``public`` (anonymous read of what is published to it) or ``private`` (login required for
    everything: the API answers 401 to anonymous callers, pages redirect to the login page).
    The branding fields are for the front end only.
    """

    id: str
    title: str
    prefix: str = "/"
    hostname: str | None = None
    policy: str = "public"
    description: str = ""
    logo_url: str | None = None
    primary_color: str | None = None

    @field_validator("prefix")
    @classmethod
    def _slashes(cls, value: str) -> str:
        value = "/" + value.strip("/")
        return value if value == "/" else value + "/"

    @field_validator("policy")
    @classmethod
    def _policy(cls, value: str) -> str:
        if value not in ("public", "private"):
            raise ValueError("a portal policy is public or private")
        return value

    @property
    def root(self) -> str:
        """The prefix without its trailing slash ('' for the root portal), to join paths to."""
        return self.prefix.rstrip("/")

    @property
    def private(self) -> bool:
        return self.policy == "private"


def default_portals(title: str = "Portail open data", description: str = "") -> list[Portal]:
    """The public portal at ``/`` and the staff portal at ``/interne/``."""
    return [Portal(id="public", title=title, prefix="/", policy="public", description=description),
            Portal(id="internal", title="Portail interne", prefix="/interne/", policy="private",
                   description="Données internes, réservées aux agents.")]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAIL_", extra="ignore")

    home: Path = Field(default=Path("var"), description="Instance directory: metadata DB, version files, uploads.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL of the catalogue; SQLite in `home` when unset.")
    keep_versions: int = Field(default=5, ge=1, description="Versions kept per dataset for history and rollback.")
    max_upload_bytes: int = Field(default=2 * 1024**3, description="Largest accepted upload or source file.")
    max_line_bytes: int = Field(default=16 * 1024**2, description="Longest accepted CSV line (a bigger one is garbage or an attack).")
    max_unzipped_bytes: int = Field(default=8 * 1024**3, description="Largest total size of an archive's members (zip bomb guard).")
    max_zip_ratio: int = Field(default=200, description="Largest compression ratio of an archive member.")
    refdata_mirror: str | None = Field(default=None, description="Base URL of a mirror laid out like the reference folder "
                                       "(referentiels/…, geo/…, excel/…) that `portail refdata install` downloads from; "
                                       "unset: the official URLs.")
    fetch_allow: list[str] = Field(default_factory=list, description="Networks (`10.20.0.0/16`, or one address) "
                                   "and host names (`lac.intranet`) that a URL source may be fetched from besides public "
                                   "addresses, e.g. `[\"10.20.0.0/16\"]`: every other loopback, private, link-local or "
                                   "reserved address is refused, so that a management token cannot make the server read "
                                   "internal services (SSRF). Checked at each connection, redirects included.")
    fetch_timeout: float = Field(default=FETCH_TIMEOUT, gt=0, description="Seconds a URL source's download may take "
                                 "in all (its redirects included): a server trickling its answer a byte at a time held "
                                 "a download, its worker and its temporary file for ever (each read alone waits 60 s at "
                                 "most).")
    ingest_memory_limit: str = Field(default="512MB", description="DuckDB memory limit while building a version; it spills beyond.")
    ingest_threads: int = Field(default=0, description="DuckDB threads while building a version (0: all cores).")
    query_memory_limit: str = Field(default="1GB", description="DuckDB memory limit of each serving process's reader "
                                    "(its cache of version pages included): keeps an API node's memory flat whatever "
                                    "the size of the data it serves; queries spill beyond.")
    page_files: bool = Field(default=True, description="Write beside each version its page file, its records row by "
                             "row as pages show them: a page of rows a selective query lists is read in ~0.3 ms instead "
                             "of 2-5 ms, for about twice the version's size on disk (store.pages).")
    base_url: str = Field(default="http://127.0.0.1:8000", description="Public URL, used in links and DCAT URIs; "
                          "unset: where `portail serve` answers (host and port).")
    management_token: str | None = Field(default=None, description="Bearer token of the management API; "
                                         "unset: generated in the home's management-token file.")
    portal_title: str = Field(default="Portail open data", description="Name of the public portal (DCAT, RSS, pages).")
    portal_description: str = Field(default="Données ouvertes publiées par l'institution.",
                                    description="One-sentence description of the public portal.")
    publisher_name: str = Field(default="Institution", description="Publisher of the catalogue (DCAT).")
    portals: list[Portal] = Field(default_factory=list,
                                  description="Portals served by this instance (``[[portals]]`` tables in portail.toml); "
                                              "none: the public portal at / and the internal one at /interne/.")
    map_tile_url: str = Field(default="", description="Raster basemap tiles of the dataset map tab, e.g. "
                              "`https://tile.openstreetmap.org/{z}/{x}/{y}.png`; empty: no basemap (offline machines).")
    map_tile_attribution: str = Field(default="", description="Attribution shown under the basemap.")
    map_detail_records: int = Field(default=5000, ge=0, description="The map tab draws each record when at most this "
                                    "many are in view; more are clustered on the server (geo_cluster).")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    shutdown_grace_seconds: int = Field(default=30, ge=0, description="On SIGTERM (a deploy, a restart), how long "
                                        "`portail serve` lets answers under way finish before it closes them: a slow "
                                        "client's export would otherwise hold the stop for ever.")
    # -- accounts and sessions (auth/) --
    auth_max_failed_logins: int = Field(default=5, ge=1, description="Consecutive failed sign-ins that lock an account.")
    auth_lockout_minutes: int = Field(default=15, ge=1, description="How long a locked account stays locked.")
    auth_http_basic: bool = Field(default=True, description="Accept a user's login and password as HTTP Basic on "
                                  "the APIs, as Opendatasoft does (turn off behind a proxy asking for Basic itself).")
    auth_reset_token_minutes: int = Field(default=60, ge=1, description="How long a password reset link stays usable.")
    session_ttl_minutes: int = Field(default=8 * 60, ge=1, description="Lifetime of a sign-in session (absolute).")
    session_cookie_secure: bool = Field(default=True, description="Send the session cookie over HTTPS only "
                                        "(turn off for plain-http development and tests).")
    local_login_disabled_portals: list[str] = Field(default_factory=list, description="Portal ids (e.g. `internal`) "
                                                    "where password sign-in is off: SSO only.")
    oidc_issuer: str | None = Field(default=None, description="OpenID Connect issuer URL (discovery at "
                                    "`<issuer>/.well-known/openid-configuration`); unset: no SSO.")
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid profile email"
    oidc_login_claim: str = Field(default="preferred_username", description="ID token claim used as the Portail login.")
    oidc_groups_claim: str = Field(default="groups", description="ID token claim listing the user's IdP groups.")
    oidc_group_map: dict[str, str] = Field(default_factory=dict, description="IdP group → Portail group; empty: "
                                           "IdP groups that exist in Portail under the same name.")
    oidc_default_role: str = Field(default="viewer", description="Role of users created at their first SSO sign-in.")
    # -- quotas (auth/ratelimit.py) --
    ratelimit_window: str = Field(default="day", pattern="^(second|minute|hour|day)$",
                                  description="Quota window (fixed, aligned on UTC), as Opendatasoft's `limit_time_unit`.")
    ratelimit_anonymous: int = Field(default=10_000, ge=0, description="API calls per window per anonymous IP (0: no limit).")
    ratelimit_default: int = Field(default=50_000, ge=0, description="API calls per window per user or key without "
                                   "a quota of its own or of its groups (0: no limit).")
    redis_url: str | None = Field(default=None, description="Redis for shared quota counters (several server "
                                  "processes); unset: in-process counters.")
    redis_prefix: str = Field(default="portail:rl:", description="Prefix of the Redis keys of the quota counters.")

    @field_validator("fetch_allow")
    @classmethod
    def _fetch_allow(cls, entries: list[str]) -> list[str]:
        """Each entry a network or a host name, said at start rather than never matching."""
        return [_network_or_host(entry) for entry in entries]

    @model_validator(mode="after")
    def _base_url_where_served(self) -> "Settings":
        """Unset, the public URL is where ``portail serve`` answers, so that a link a command
        prints (a reset link) names the port the server uses (production sets it). Left out of
        ``model_fields_set``: ``serve`` reads that to say the URL was not set."""
        if "base_url" not in self.model_fields_set:
            object.__setattr__(self, "base_url", local_url(self.host, self.port))
        return self

    @model_validator(mode="after")
    def _default_portals(self) -> "Settings":
        if not self.portals:
            self.portals = default_portals(self.portal_title, self.portal_description)
        return self

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = toml_path()
        if toml.exists():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @cached_property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'catalog.sqlite').resolve()}"

    def portal(self, portal_id: str) -> Portal:
        """The portal of that id (``KeyError`` if none)."""
        for portal in self.portals:
            if portal.id == portal_id:
                return portal
        raise KeyError(portal_id)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def uploads_dir(self) -> Path:
        return self.home / "uploads"

    @property
    def tmp_dir(self) -> Path:
        return self.home / "tmp"


def local_url(host: str, port: int) -> str:
    """The URL a server listening on ``host:port`` answers at (every address: the loopback's)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"


def _network_or_host(entry: str) -> str:
    """``entry`` of ``fetch_allow`` written one way: a network (``10.20.0.0/16``; an address is
    its own /32 or /128) or a host name in lower case; anything else is refused."""
    import ipaddress
    import re

    entry = entry.strip()
    try:
        return str(ipaddress.ip_network(entry, strict=False))
    except ValueError:
        pass
    if not re.fullmatch(r"(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?",
                        entry, re.IGNORECASE):
        raise ValueError(f"{entry!r} is neither a network (10.20.0.0/16) nor a host name (lac.intranet)")
    return entry.lower().rstrip(".")


class SettingsError(ValueError):
    """A setting that cannot be used, said in one line naming its variable (``PORTAIL_PORT: …``)."""


def load_settings() -> Settings:
    """The settings of ``PORTAIL_*`` and ``portail.toml``; a bad value is a ``SettingsError``
    naming the variable (or the file's key), for the commands to print as one line instead of
    pydantic's report. An unknown key of ``portail.toml`` is refused too: the environment holds
    other programs' variables, so unknown ones are ignored there, but a key in the file is meant
    for Portail, and a misspelt one (``prot = 8080``) would be silently without effect."""
    toml = toml_keys()
    unknown = sorted(key for key in toml if key.lower() not in Settings.model_fields)  # read without case
    if unknown:
        raise SettingsError("; ".join(_unknown(key) for key in unknown))
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError("; ".join(_describe(problem, toml) for problem in error.errors())) from None
    except UndecodedSetting as error:  # a list or table in a variable that is no JSON (PORTAIL_FETCH_ALLOW=10.0.0.0/8)
        raise SettingsError(_undecoded(error)) from None


def toml_path() -> Path:
    return Path(os.environ.get("PORTAIL_HOME", "var")) / "portail.toml"


def toml_keys() -> dict[str, object]:
    """The top-level keys of the instance's ``portail.toml`` (none without one). A file that is no
    TOML is said by ``Settings()`` itself."""
    import tomllib

    try:
        return tomllib.loads(toml_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _undecoded(error: UndecodedSetting) -> str:
    """pydantic-settings' refusal of a variable that is no JSON, in one line naming the variable
    (its message is the only place that names the field)."""
    import re

    found = re.search(r'field "(\w+)"', str(error))
    name = f"PORTAIL_{found.group(1).upper()}" if found else "a PORTAIL_* variable"
    return f"{name}: not JSON (a list is written '[\"a\", \"b\"]', a table '{{\"a\": \"b\"}}')"


def _unknown(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(Settings.model_fields), n=1)
    return f"{toml_path()}: {key!r} is no setting" + (f" (did you mean {close[0]!r}?)" if close else "")


def _describe(problem: dict, toml: dict[str, object]) -> str:
    key = str(problem["loc"][0]) if problem["loc"] else ""
    name = "PORTAIL_" + key.upper()
    if key in {k.lower() for k in toml} and name not in os.environ:  # the file's value (the environment outranks it)
        name = f"{toml_path()}: {key}"
    where = ".".join(str(part) for part in problem["loc"][1:])
    shown = "" if any(word in name.upper() for word in ("SECRET", "TOKEN", "URL")) else f"={problem.get('input')!r}"
    return f"{name}{f' ({where})' if where else ''}{shown}: {problem['msg']}"
