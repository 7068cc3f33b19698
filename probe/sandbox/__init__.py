"""The sandbox: a local stand-in for the world Kanari watches, speaking the real wire contracts (DESIGN
sections 3 and 6). The probe never imports it; the sandbox may import the probe's vocabulary.

Public surface:

* :func:`probe.sandbox.settings.load_settings`, :class:`~probe.sandbox.settings.SandboxSettings`
* :func:`probe.sandbox.server.serve` (``kanari sandbox``), :func:`probe.sandbox.server.running` (tests,
  ``kanari demo``)
* :class:`probe.sandbox.world.World` and :func:`probe.sandbox.app.create_app` (in-process ASGI)
* :func:`probe.sandbox.assignment.assign` (vendor, offices and Altinn import of each municipality)
* :func:`probe.sandbox.delays.worst_case_latencies` (to choose deadlines)
* :func:`probe.sandbox.manifest.load_manifest` (``sandbox.json`` in the state dir)

Modules, one concept each: ``errors`` (the sandbox's exception tree), ``settings``, ``assignment``,
``delays``, ``faults``, ``certs``, ``credentials``, ``tokens`` (Maskinporten), ``schemas`` (KS's JSON
schemas), ``multipart``, ``answers`` (error styles), ``envelope`` (opening CMS EnvelopedData, independent
of the probe's encryption), ``container`` (reading signed ASiC-E as Difi's and KS's readers do),
``fagsystem`` (vendor systems and stores), ``ks`` and ``fiks`` (KS's model and API),
``correspondence`` and ``altinn`` (Altinn's model and API), ``readback``, ``world``, ``manifest``, ``app``,
``server``.
"""
