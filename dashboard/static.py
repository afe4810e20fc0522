"""Static files served by the app itself (WhiteNoise), so gunicorn needs no separate file server."""

from __future__ import annotations

import os

from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise reading the static folders through Django's finders (WHITENOISE_USE_FINDERS), and
    STATIC_ROOT only once `collectstatic` has filled it — instead of warning at every start that it
    does not exist."""

    def add_files(self, root, prefix=None):
        if not os.path.isdir(root):
            return
        super().add_files(root, prefix)
