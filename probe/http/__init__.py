"""The probe's HTTP surface: the ASGI app (:mod:`.app`) and the uvicorn server it and the sandbox are
served by (:mod:`.server`)."""
