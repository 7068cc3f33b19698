"""The status page (``/status``): what operators, vendors and municipalities look at.

- :mod:`.views`: what each view shows, computed from the ledger and the configured routes;
- :mod:`.charts`: the hop timeline as a small server-side SVG;
- :mod:`.texts`: every word, in bokmål (default) and English;
- :mod:`.page`: rendering with Jinja2 (``templates/``, package data);
- :mod:`.site`: the routes, basic auth on the restricted views, the worker thread and the cache.
"""
