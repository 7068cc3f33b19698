"""The sandbox's exception tree: what its simulated services refuse on purpose.

::

    KanariError (probe.errors)
    └── SandboxError            something a simulated service refuses, with the reason it would give
        ├── EnvelopeError       CMS EnvelopedData a fagsystem cannot or will not open (envelope)
        ├── ContainerError      an ASiC-E container Difi's or KS's reader would refuse (container)
        ├── ReportRejectedError a report a fagsystem answers with ``feilet`` (fagsystem)
        ├── MultipartError      a request body KS's API cannot parse (multipart)
        ├── GrantError          a Maskinporten grant refused with an OAuth error (tokens)
        └── TokenRejectedError  a bearer token an API does not accept (tokens)

Messages are written for the answer the real service would give (a ``feilet`` receipt, an OAuth error,
an HTTP status), name the layer they come from, and never carry key material.
"""

from __future__ import annotations

from probe.errors import KanariError


class SandboxError(KanariError):
    """Base of what the sandbox's simulated services refuse on purpose."""
