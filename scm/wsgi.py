import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm.settings")

from scm.observability.tracing import configure_from_settings

configure_from_settings("web")  # before the middleware chain is built: Django's instrumentation adds one
application = get_wsgi_application()
