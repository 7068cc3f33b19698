"""The probe's HTTP surface: the ASGI app (:mod:`.app`), its basic auth (:mod:`.auth`), the status page
(:mod:`.status`) and the uvicorn server it and the sandbox are served by (:mod:`.server`)."""
