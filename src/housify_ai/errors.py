"""Exceptions of housify-ai (no torch here, so the queue code can catch them without the AI stack)."""


class ModelLoadError(RuntimeError):
    """A model folder or file is missing or cannot be loaded; the message names the setting and why."""


class JobCancelled(Exception):
    """The job's cancellation flag was seen (before start or at a denoising step)."""


class GpuOutOfMemory(RuntimeError):
    """CUDA ran out of memory for this job; memory was released and the worker carries on."""


class TaskUnavailable(RuntimeError):
    """A task's runtime cannot load on this machine (a missing library or package); the message says
    what is missing and how to install it. The worker serves its other tasks (docs/ai-server.md)."""
