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

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAIL_", extra="ignore")

    home: Path = Field(default=Path("var"), description="Instance directory: metadata DB, version files, uploads.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL of the catalogue; SQLite in `home` when unset.")
    keep_versions: int = Field(default=5, ge=1, description="Versions kept per dataset for history and rollback.")
    max_upload_bytes: int = Field(default=2 * 1024**3, description="Largest accepted upload or source file.")
    max_line_bytes: int = Field(default=16 * 1024**2, description="Longest accepted CSV line (a bigger one is garbage or an attack).")
    max_unzipped_bytes: int = Field(default=8 * 1024**3, description="Largest total size of an archive's members (zip bomb guard).")
    max_zip_ratio: int = Field(default=200, description="Largest compression ratio of an archive member.")
    ingest_memory_limit: str = Field(default="512MB", description="DuckDB memory limit while building a version; it spills beyond.")
    ingest_threads: int = Field(default=0, description="DuckDB threads while building a version (0: all cores).")
    base_url: str = Field(default="http://127.0.0.1:8000", description="Public URL, used in links and DCAT URIs.")
    management_token: str | None = Field(default=None, description="Bearer token of the management API; "
                                         "unset: open to loopback clients only.")
    portal_title: str = Field(default="Portail open data", description="Name of the public portal (DCAT, RSS, pages).")
    portal_description: str = Field(default="Données ouvertes publiées par l'institution.",
                                    description="One-sentence description of the public portal.")
    publisher_name: str = Field(default="Institution", description="Publisher of the catalogue (DCAT).")
    host: str = "127.0.0.1"
    port: int = 8000

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        home = Path(os.environ.get("PORTAIL_HOME", "var"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = home / "portail.toml"
        if toml.exists():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @cached_property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'catalog.sqlite').resolve()}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def uploads_dir(self) -> Path:
        return self.home / "uploads"

    @property
    def tmp_dir(self) -> Path:
        return self.home / "tmp"
