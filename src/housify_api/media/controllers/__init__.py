"""Route handlers of the media domain; thin: each calls one service function."""

from litestar.types import ControllerRouterHandler

from housify_api.media.availability import list_tasks
from housify_api.media.catalog.controller import LevelTaskController, PresetAdminController, list_presets
from housify_api.media.controllers.gallery import GalleryController
from housify_api.media.controllers.images import ImageController
from housify_api.media.controllers.jobs import JobController, job_events_schema_document
from housify_api.media.controllers.media_files import MediaFileController
from housify_api.media.controllers.prompts import PromptController
from housify_api.media.controllers.quota import get_my_quota

CONTROLLERS: list[ControllerRouterHandler] = [
    ImageController,
    JobController,
    GalleryController,
    MediaFileController,
    PromptController,
    LevelTaskController,
    PresetAdminController,
    list_presets,
    list_tasks,
    get_my_quota,
    job_events_schema_document,
]

__all__ = ["CONTROLLERS", "GalleryController", "ImageController", "JobController", "PromptController"]
