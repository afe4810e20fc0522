import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm.settings")

from scm.observability.tracing import configure_from_settings

configure_from_settings("web")
application = get_asgi_application()
