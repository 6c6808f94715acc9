"""piccolo tables of the catalog (app ``housify_media``).

* :class:`LevelTask` — an admin's choice whether a subscription level may run a
  task; without a row the task's declaration decides (``housify_ai.tasks.TaskSpec.levels``).
* :class:`TaskRollout` — the task names whose access right has been granted to
  the existing users (once per name, so an admin's later revocation stays).
* :class:`Preset` — a room type or a style: prompt and negative-prompt fragments.
"""

from __future__ import annotations

from piccolo.columns import Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class LevelTask(Table, tablename="media_level_tasks"):
    """Whether level ``level`` may run ``task`` (unique per pair; an admin's override of the default)."""

    level = Varchar(length=50, index=True)
    task = Varchar(length=32)
    allowed = Boolean(default=False)
    updated_at = Timestamptz(default=TimestamptzNow())


class TaskRollout(Table, tablename="media_task_rollouts"):
    """A task whose access right every existing user was given when it first appeared."""

    task = Varchar(length=32, unique=True)
    rolled_out_at = Timestamptz(default=TimestamptzNow())


class Preset(Table, tablename="media_presets"):
    """A room type (``kind`` ``room_type``) or style (``style``), unique per (kind, name).

    ``prompt`` is added to the job's prompt, ``negative_prompt`` to its negative
    prompt; ``position`` orders the list shown to users.
    """

    kind = Varchar(length=16, index=True)
    name = Varchar(length=40)
    label = Varchar(length=80)
    prompt = Text(default="")
    negative_prompt = Text(default="")
    position = Integer(default=0)
    updated_at = Timestamptz(default=TimestamptzNow())
