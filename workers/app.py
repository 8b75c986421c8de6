"""The Celery application of the workers (`celery -A workers.app ...`).

Importing it imports no model code: task modules are listed in `include`, so only a
worker imports them.
"""

from celeryconfig import make_celery
from settings import get_settings

app = make_celery(get_settings(), include=["workers.tasks"])
