"""Django's SQLite backend with a fair, prompt hand-over of the write lock between processes
(``writer_lock``). Used for the embedded default; configured in ``config.settings.database``."""
