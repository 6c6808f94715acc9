"""Image storage behind one small interface: a directory (embedded default) or an S3 bucket.

The AI worker writes generated pictures and thumbnails; the API writes
uploads and serves both. ``open_store(load_storage_settings())`` gives the
store the environment names (docs/storage.md).

- :mod:`.base`: the :class:`ImageStore` protocol, the key rule, the errors;
- :mod:`.directory`: :class:`DirectoryStore` (files, atomic writes, umask modes);
- :mod:`.s3`: :class:`S3Store` (obstore; presigned GETs for nginx);
- :mod:`.settings`: :class:`StorageSettings` and :func:`open_store`;
- :mod:`.copy`: moving every object from one store to another (``housify-api storage copy``).
"""

from housify_common.storage.base import (
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    ImageStore,
    ObjectInfo,
    ObjectStream,
    StorageKeyError,
    StorageUnavailable,
    check_key,
    put_with_retry,
)
from housify_common.storage.directory import DirectoryStore
from housify_common.storage.s3 import S3Store
from housify_common.storage.settings import StorageSettings, load_storage_settings, open_store

__all__ = [
    "KEY_PATTERN",
    "MAX_KEY_LENGTH",
    "DirectoryStore",
    "ImageStore",
    "ObjectInfo",
    "ObjectStream",
    "S3Store",
    "StorageKeyError",
    "StorageSettings",
    "StorageUnavailable",
    "check_key",
    "load_storage_settings",
    "open_store",
    "put_with_retry",
]
