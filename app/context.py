"""The context object built once by ``main.py`` and handed down: configuration, storage and engine.

Nothing opens until first used: ``python main.py --help`` touches no database and loads no model.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from app.config import AppConfig
from db.database import Database, open_database
from db.repositories import Repository
from models.engine import EngineConfig, FaceEngine
from models.matching import Gallery
from models.operating_point import OperatingPoint, Strictness, operating_point

log = logging.getLogger(__name__)


class AppContext:
    """Configuration plus lazily opened database, repository and face engine."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self._database: Database | None = None
        self._repo: Repository | None = None
        self._repo_station = ""
        self._engine: FaceEngine | None = None
        self._lock = threading.Lock()

    @property
    def database(self) -> Database:
        with self._lock:
            if self._database is None:  # open_database creates the folder and reports an unwritable one
                self._database = open_database(self.config.db_url)
            return self._database

    @property
    def repo(self) -> Repository:
        """The repository; attendance it records names this station (the ``station`` setting)."""
        if self._repo is None or self._repo_station != self.config.station:  # renamed in Settings: new marks
            self._repo_station = self.config.station
            self._repo = Repository(self.database, station=self.config.station)
        return self._repo

    @property
    def engine(self) -> FaceEngine:
        with self._lock:
            if self._engine is None:
                self._engine = FaceEngine(self.config.engine)
            return self._engine

    def set_engine_config(self, engine: EngineConfig) -> None:
        """Switch detector/backend/threshold; the new engine loads on next use."""
        with self._lock:
            self.config = replace(self.config, engine=engine)
            self._engine = None

    def gallery_version(self) -> int:
        """The database's change counter of enrolled people (see ``Repository.gallery_version``): poll it, and
        call :meth:`gallery` again when it moved (someone was enrolled or removed, here or at another station).
        One primary-key read."""
        return self.repo.gallery_version()

    def operating_point(self, gallery_size: int, live: bool = False) -> OperatingPoint:
        """The threshold for searching ``gallery_size`` people with the current backend: the user's own
        threshold when set, else the one that names about the chosen share of strangers (Settings' strictness)
        for a gallery of this size. ``live``: probes are the live view's single-view embeddings."""
        engine = self.engine
        info = engine.info
        return operating_point(
            info.name, info.metric, info.threshold, gallery_size, self.strictness, "live" if live else "photo",
            override=engine.config.threshold,
        )

    @property
    def strictness(self) -> Strictness:
        """The strictness in Settings (Balanced when the saved value is not a known one)."""
        try:
            return Strictness.parse(self.config.settings.strictness)
        except ValueError:
            log.warning("unknown strictness %r in the settings; using balanced", self.config.settings.strictness)
            return Strictness.BALANCED

    def gallery(self, live: bool = False) -> Gallery:
        """Everyone enrolled for the current backend, ready to search at the operating point for its size
        (see :meth:`operating_point`; ``live`` for the live view's embeddings)."""
        engine = self.engine
        cents = self.repo.centroids(engine.info.name)
        point = self.operating_point(len(cents.person_ids), live)
        gallery = Gallery.build(
            cents.person_ids, cents.names, cents.matrix, engine.info.metric, point.threshold, point.min_margin,
            point.cohort,
        )
        return gallery.prepare()  # a large gallery builds its search index now, not on the first (live) query

    def close(self) -> None:
        with self._lock:
            if self._database is not None:
                self._database.close()
                self._database = None
                self._repo = None
