"""Code both sides import, by concern: ``accounts`` (the flows), ``messaging`` (events and
how they travel), ``infra``, ``operators``; the models of all of them (one Django app,
label ``shared``). ``devservices`` holds the local stand-ins of ``make run``, not shipped."""
