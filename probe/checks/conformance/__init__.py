"""``kanari readback verify``: the read-back v1 contract (DESIGN 3.4, ``docs/readback-openapi.yaml``)
run against a vendor's implementation, one pass/fail/skip outcome per rule, so a vendor can prove its
endpoint before onboarding.

:mod:`.rules` names the rules, :mod:`.contract` holds the OpenAPI document's schemas, :mod:`.verifier`
and :mod:`.entries` run them through the probe's own client and transport (:mod:`.calls`).
"""

from __future__ import annotations

from probe.checks.conformance.rules import RULES, Outcome, Rule, Status
from probe.checks.conformance.verifier import Limits, verify

__all__ = ["RULES", "Limits", "Outcome", "Rule", "Status", "verify"]
