"""The Celery application.

Importing it imports no model code: the API imports it to publish. Workers import
the task modules listed in `include` when they start.
"""

from celery import Celery

app = Celery("pixelated_empathy", include=["workers.tasks"])
app.config_from_object("celeryconfig")
