"""The alerting settings: ticket receivers beside the paging ones (vendors, municipalities, KS and
Digdir), the scrape jobs, and the errors that name file, field and value when one is wrong."""

from __future__ import annotations

from tests.config.conftest import ConfigDir


def only(directory: ConfigDir) -> str:
    (problem,) = directory.problems()
    return problem


def test_ticket_receivers_are_read_where_pages_are(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "vendors.yaml",
        "    alert_receiver: {email: vakt@plain.example}\n",
        "    alert_receiver: {email: vakt@plain.example}\n"
        "    ticket_receiver: {email: support@plain.example}\n",
    )
    valid_config.edit(
        "municipalities/4601-bergen.yaml",
        "vendor: fjordsys\n",
        "vendor: fjordsys\nticket_contacts:\n  - {name: IKT, webhook_url: 'https://tickets.bergen.example'}\n",
    )
    valid_config.edit(
        "kanari.yaml",
        "readback:\n",
        "alerting:\n  job: kanari-test\n  ks_ticket: {email: support@ks.example}\nreadback:\n",
    )
    result = valid_config.check()
    assert result.errors == []
    assert result.config is not None
    assert result.config.vendors["plain"].ticket_receiver is not None
    assert result.config.vendors["plain"].ticket_receiver.email == "support@plain.example"
    (contact,) = result.config.municipalities["4601"].model.ticket_contacts
    assert contact.webhook_url == "https://tickets.bergen.example"
    alerting = result.config.settings.alerting
    assert alerting.job == "kanari-test"
    assert alerting.ks_ticket is not None
    assert alerting.ks_ticket.email == "support@ks.example"


def test_a_bad_ticket_receiver_names_file_field_and_value(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "vendors.yaml",
        "    alert_receiver: {email: vakt@plain.example}\n",
        "    alert_receiver: {email: vakt@plain.example}\n    ticket_receiver: {email: not-an-address}\n",
    )
    assert only(valid_config) == (
        "vendors.yaml:13: vendors[1].ticket_receiver.email: not an e-mail address "
        "(value: 'not-an-address'); fix: e.g. vakt@example.no"
    )


def test_an_empty_ticket_receiver_is_refused(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "readback:\n", "alerting:\n  digdir_ticket: {}\nreadback:\n")
    assert only(valid_config) == (
        "kanari.yaml:31: alerting.digdir_ticket: give a webhook_url, an email, or both (value: '<mapping>')"
    )


def test_a_ticket_contact_with_a_bad_webhook_names_its_file(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "municipalities/0301-oslo.yaml",
        "vendor: plain\n",
        "vendor: plain\nticket_contacts:\n  - {name: IKT, webhook_url: 'ftp://tickets.oslo.example'}\n",
    )
    problem = only(valid_config)
    assert problem.startswith("municipalities/0301-oslo.yaml:5: ticket_contacts[0].webhook_url: ")
    assert "(value: 'ftp://tickets.oslo.example')" in problem


def test_plain_http_ticket_webhooks_are_warned_about(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "vendors.yaml",
        "    alert_receiver: {email: vakt@plain.example}\n",
        "    alert_receiver: {email: vakt@plain.example}\n"
        "    ticket_receiver: {webhook_url: 'http://tickets.plain.example'}\n",
    )
    result = valid_config.check()
    assert result.errors == []
    assert any(
        "vendors[1].ticket_receiver.webhook_url: http://tickets.plain.example is plain http" in warning
        for warning in result.warnings
    ), result.warnings


def test_a_ticket_contact_without_an_address_is_warned_about(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "municipalities/0301-oslo.yaml",
        "vendor: plain\n",
        "vendor: plain\nticket_contacts:\n  - {name: IKT}\n",
    )
    result = valid_config.check()
    assert result.errors == []
    assert (
        "municipalities/0301-oslo.yaml:5: contact 'IKT' has neither email nor webhook_url, so receives no "
        "alerts" in result.warnings
    ), result.warnings
