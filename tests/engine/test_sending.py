from __future__ import annotations

import pytest

from probe.engine.sending import send_failure_decision
from probe.engine.verdict import Decision
from probe.errors import Reason
from probe.hops import Channel, Hop, Owner, Verdict


@pytest.mark.parametrize(
    ("channel", "reason", "expected"),
    [
        (Channel.PORTAL, Reason.AUTH, Decision(Verdict.FAILED, Hop.ACCEPTED, Owner.OPS)),
        (Channel.ALTINN, Reason.HTTP_4XX, Decision(Verdict.FAILED, Hop.ACCEPTED, Owner.OPS)),
        (Channel.PORTAL, Reason.HTTP_5XX, Decision(Verdict.FAILED, Hop.ACCEPTED, Owner.KS)),
        (Channel.ALTINN, Reason.CONNECT, Decision(Verdict.FAILED, Hop.ACCEPTED, Owner.DIGDIR)),
        (Channel.PORTAL, Reason.TLS, Decision(Verdict.FAILED, Hop.ACCEPTED, Owner.KS)),
        (Channel.PORTAL, Reason.RATE_LIMITED, Decision(Verdict.UNKNOWN)),
        (Channel.ALTINN, Reason.RATE_LIMITED, Decision(Verdict.UNKNOWN)),
    ],
)
def test_a_refused_send_is_blamed_by_its_reason(channel: Channel, reason: Reason, expected: Decision) -> None:
    assert send_failure_decision(channel, reason) == expected
