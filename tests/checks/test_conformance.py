"""The read-back conformance rules: the real sandbox's read-back passes them over loopback, and each
deliberately broken read-back (a Starlette app over loopback) breaks exactly the rules it should."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from probe.checks.conformance import RULES, Limits, Outcome, Status, contract, verify
from probe.checks.conformance.entries import NO_CANARY, NOT_GIVEN
from probe.cli.readback import probe_limits
from probe.clock import FakeClock
from probe.config.types import SecretRef
from probe.config.vendors import ReadbackAuth, Vendor, VendorReadback
from probe.sandbox.credentials import readback_token_file
from probe.sandbox.server import running
from probe.sandbox.settings import SandboxSettings
from probe.sandbox.world import World
from tests.checks.vendor_apps import SERVED, TOKEN, FakeVendor, Flaws, served
from tests.conftest import ROOT
from tests.sandbox.kit import Kit, municipality_of

pytestmark = pytest.mark.anyio

START = 1_767_225_600.0
PAST_WORST_PORTAL = 200  # fake seconds after which the sandbox has registered a portal canary
ENTRY_RULES = {"canary.get", "since.excludes-earlier", "since.includes-at-and-after", "delete.listed"}


def vendor_for(url: str, token_file: Path) -> Vendor:
    reference = SecretRef(file=token_file)
    reference.resolve(token_file.parent, {})
    readback = VendorReadback(base_url=url, auth=ReadbackAuth(type="static", token=reference))
    return Vendor(id="under-test", name="Under test", readback=readback)


def statuses(outcomes: list[Outcome]) -> dict[str, Status]:
    assert [outcome.rule for outcome in outcomes] == list(RULES)
    return {outcome.rule.id: outcome.status for outcome in outcomes}


def failing(outcomes: list[Outcome]) -> set[str]:
    return {rule for rule, status in statuses(outcomes).items() if status is Status.FAIL}


def detail(outcomes: list[Outcome], rule: str) -> str:
    return next(outcome.detail for outcome in outcomes if outcome.rule.id == rule)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


@dataclasses.dataclass
class Fake:
    vendor: FakeVendor
    target: Vendor
    clock: FakeClock
    http: httpx.AsyncClient

    async def verify(self, canary_id: str | None = None, limits: Limits | None = None) -> list[Outcome]:
        return await verify(
            self.target,
            SERVED,
            http=self.http,
            clock=self.clock,
            limits=limits or probe_limits(),
            canary_id=canary_id,
        )


@pytest.fixture
def flaws() -> Flaws:
    return Flaws()


@pytest.fixture
async def fake(flaws: Flaws, token_file: Path) -> AsyncIterator[Fake]:
    clock = FakeClock(START)
    vendor = FakeVendor(clock, flaws)
    async with served(vendor) as url, httpx.AsyncClient() as http:
        yield Fake(vendor, vendor_for(url, token_file), clock, http)


# --- the contract itself ------------------------------------------------------------------------------


def test_the_packaged_contract_is_the_document_vendors_read() -> None:
    packaged = ROOT / "probe" / "checks" / contract.DOCUMENT
    assert (ROOT / "docs" / "readback-openapi.yaml").resolve() == packaged.resolve()
    assert contract.document()["info"]["title"] == "Kanari read-back API"
    assert contract.version() == "1.0.0"


def test_schema_problems_name_the_field_and_the_value() -> None:
    entry = {
        "canaryId": "x",
        "marker": "KANARI1.a.b",
        "channel": "email",
        "registeredAt": "2026-01-01T00:00:00Z",
    }
    assert contract.problems({"canaries": [entry], "serverTime": "2026-01-01T00:00:00Z"}, "CanaryList") == [
        "canaries[0].channel: 'email' is not one of ['portal', 'altinn']"
    ]
    assert contract.problems({"canaries": []}, "CanaryList") == [
        "(the answer): 'serverTime' is a required property"
    ]
    assert contract.problems({**entry, "channel": "altinn"}, "Canary") == []
    with pytest.raises(KeyError, match="Nothing"):
        contract.problems({}, "Nothing")


def test_every_rule_has_a_unique_id_and_is_documented_for_vendors() -> None:
    ids = [rule.id for rule in RULES]
    assert len(set(ids)) == len(ids)
    guide = (ROOT / "docs" / "vendors.md").read_text(encoding="utf-8")
    assert [rule_id for rule_id in ids if f"`{rule_id}`" not in guide] == []


# --- the real sandbox ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sandbox-state")
    World.build(SandboxSettings(state_dir=directory), "http://127.0.0.1:1")  # generates the keys once
    return directory


@pytest.fixture
async def kit(state_dir: Path) -> AsyncIterator[Kit]:
    clock = FakeClock(START)
    settings = SandboxSettings(listen="127.0.0.1:0", state_dir=state_dir)
    async with running(settings, clock) as sandbox, httpx.AsyncClient(timeout=30) as http:
        yield Kit(sandbox, http, clock)


def sandbox_vendor(kit: Kit, vendor_id: str) -> Vendor:
    info = next(vendor for vendor in kit.manifest.vendors if vendor.id == vendor_id)
    assert info.readback is not None
    assert info.readback.auth.token_file is not None
    assert info.readback.auth.token_file.name == readback_token_file(vendor_id)  # in the state dir
    return vendor_for(info.readback.base_url, info.readback.auth.token_file)


async def verify_sandbox(kit: Kit, kommunenummer: str, canary_id: str | None = None) -> list[Outcome]:
    return await verify(
        sandbox_vendor(kit, "vidde"),
        kommunenummer,
        http=kit.http,
        clock=kit.clock,
        limits=probe_limits(),
        canary_id=canary_id,
    )


@pytest.mark.slow
async def test_the_sandbox_passes_every_rule_with_a_registered_canary(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "vidde")
    sent = await kit.send_report(kommunenummer)
    kit.advance(PAST_WORST_PORTAL)
    assert await kit.registered(kommunenummer) == [sent.canary_id]
    outcomes = await verify_sandbox(kit, kommunenummer, sent.canary_id)
    assert set(statuses(outcomes).values()) == {Status.PASS}, [
        o for o in outcomes if o.status is not Status.PASS
    ]
    assert sent.canary_id in kit.world.fagsystems.stores["vidde"].removed(kommunenummer)
    assert await kit.registered(kommunenummer) == []


@pytest.mark.slow
async def test_the_sandbox_without_a_canary_skips_the_rules_that_need_one(kit: Kit) -> None:
    outcomes = await verify_sandbox(kit, municipality_of(kit, "vidde"))
    found = statuses(outcomes)
    assert {rule for rule, status in found.items() if status is Status.SKIP} == ENTRY_RULES
    assert {status for rule, status in found.items() if rule not in ENTRY_RULES} == {Status.PASS}
    assert all(detail(outcomes, rule) == NO_CANARY for rule in ENTRY_RULES)


@pytest.mark.slow
async def test_a_sandbox_refusing_delete_breaks_the_delete_rule(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "vidde")
    sent = await kit.send_report(kommunenummer)
    kit.advance(PAST_WORST_PORTAL)
    await kit.fault("vendor.delete_refused", kommunenummer)
    outcomes = await verify_sandbox(kit, kommunenummer, sent.canary_id)
    # The fault refuses every DELETE, of an unknown canary too.
    assert failing(outcomes) == {"delete.listed", "delete.unknown"}
    assert "HTTP 403" in detail(outcomes, "delete.listed")


@pytest.mark.slow
async def test_a_sandbox_answering_malformed_json_breaks_the_list_shape(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "vidde")
    await kit.fault("malformed", kommunenummer)
    outcomes = await verify_sandbox(kit, kommunenummer)
    assert {"list.shape", "list.server-time"} <= failing(outcomes)
    assert "not JSON" in detail(outcomes, "list.shape")


# --- deliberately broken read-backs -------------------------------------------------------------------


@pytest.mark.slow
async def test_the_correct_fake_passes_every_rule(fake: Fake) -> None:
    canary = str(uuid.uuid4())
    fake.vendor.register(canary, START - 300)
    outcomes = await fake.verify(canary)
    assert set(statuses(outcomes).values()) == {Status.PASS}, outcomes
    assert fake.vendor.removed == {canary}


@pytest.mark.slow
async def test_a_listed_canary_is_used_but_not_deleted_unless_named(fake: Fake) -> None:
    canary = str(uuid.uuid4())
    fake.vendor.register(canary, START - 300)
    outcomes = await fake.verify()
    found = statuses(outcomes)
    assert {rule for rule, status in found.items() if status is not Status.PASS} == {"delete.listed"}
    assert found["delete.listed"] is Status.SKIP
    assert detail(outcomes, "delete.listed") == NOT_GIVEN
    assert canary in detail(outcomes, "since.includes-at-and-after")
    assert fake.vendor.removed == set()


@pytest.mark.slow
async def test_a_named_canary_that_is_not_registered_fails_canary_get(fake: Fake) -> None:
    missing = str(uuid.uuid4())
    outcomes = await fake.verify(missing)
    assert failing(outcomes) == {"canary.get"}
    assert "HTTP 404" in detail(outcomes, "canary.get")
    assert "--canary-id" in detail(outcomes, "canary.get")
    found = statuses(outcomes)
    assert {found[rule] for rule in ENTRY_RULES - {"canary.get"}} == {Status.SKIP}


BROKEN = [
    pytest.param(Flaws(no_auth=True), {"auth.no-token", "auth.wrong-token"}, id="no-auth"),
    pytest.param(Flaws(extra_property=True), {"list.shape"}, id="wrong-shape-extra-property"),
    pytest.param(
        Flaws(renamed_list=True),
        {"list.shape", "since.excludes-earlier", "since.includes-at-and-after", "delete.listed"},
        id="wrong-shape-renamed-list",
    ),
    pytest.param(Flaws(ignores_since=True), {"since.excludes-earlier"}, id="ignores-since"),
    pytest.param(Flaws(exclusive_since=True), {"since.includes-at-and-after"}, id="exclusive-since"),
    pytest.param(Flaws(server_time_offset=-600), {"list.server-time"}, id="clock-behind"),
    pytest.param(Flaws(since_optional=True), {"list.since-required"}, id="since-optional"),
    pytest.param(Flaws(any_municipality=True), {"list.unknown-municipality"}, id="any-municipality"),
    pytest.param(
        Flaws(unknown_found=True),
        {"canary.unknown", "delete.unknown", "delete.listed"},  # gone, its GET and DELETE still succeed
        id="unknown-found",
    ),
    pytest.param(Flaws(delete_status=200), {"delete.listed"}, id="delete-200"),
    pytest.param(Flaws(keeps_deleted=True), {"delete.listed"}, id="keeps-deleted"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("flaws", "broken"), BROKEN)
async def test_each_broken_read_back_breaks_exactly_its_rules(fake: Fake, broken: set[str]) -> None:
    canary = str(uuid.uuid4())
    fake.vendor.register(str(uuid.uuid4()), START - 900)  # an older one, which since must leave out
    fake.vendor.register(canary, START - 300)
    outcomes = await fake.verify(canary)
    assert failing(outcomes) == broken, [o for o in outcomes if o.status is not Status.PASS]
    assert Status.SKIP not in statuses(outcomes).values()


@pytest.mark.slow
@pytest.mark.parametrize("flaws", [Flaws(ignores_since=True)])
async def test_ignoring_since_is_named_with_the_registration_it_listed(fake: Fake) -> None:
    canary = str(uuid.uuid4())
    fake.vendor.register(canary, START - 300)
    outcomes = await fake.verify(canary)
    text = detail(outcomes, "since.excludes-earlier")
    assert "since is not applied" in text
    assert canary in text


@pytest.mark.slow
@pytest.mark.parametrize("flaws", [Flaws(hangs_list=True)])
async def test_an_answer_slower_than_the_timeout_breaks_the_time_limit(fake: Fake) -> None:
    limits = dataclasses.replace(probe_limits(), timeout=0.3)
    outcomes = await fake.verify(limits=limits)
    assert {"limits.time", "list.shape"} <= failing(outcomes)
    assert "limits.size" not in failing(outcomes)
    assert "list" in detail(outcomes, "limits.time")
    assert "0.3 s" in detail(outcomes, "limits.time")


@pytest.mark.slow
@pytest.mark.parametrize("flaws", [Flaws(list_padding=4096)])
async def test_an_answer_larger_than_kanari_reads_breaks_the_size_limit(fake: Fake) -> None:
    limits = dataclasses.replace(probe_limits(), max_response_bytes=2048)
    outcomes = await fake.verify(limits=limits)
    assert {"limits.size", "list.shape"} <= failing(outcomes)
    assert "limits.time" not in failing(outcomes)
    assert "2048 bytes" in detail(outcomes, "limits.size")


@pytest.mark.slow
@pytest.mark.parametrize("flaws", [Flaws(echoes_token=True)])
async def test_the_token_never_appears_in_an_outcome(fake: Fake) -> None:
    outcomes = await fake.verify(str(uuid.uuid4()))
    assert "canary.unknown" not in failing(outcomes)
    assert all(TOKEN not in outcome.detail for outcome in outcomes)
    assert "[token]" in detail(outcomes, "canary.unknown")


@pytest.mark.slow
async def test_an_unreachable_endpoint_fails_every_rule_it_can_run(token_file: Path) -> None:
    with socket_closed() as url:
        target = vendor_for(url, token_file)
        async with httpx.AsyncClient() as http:
            outcomes = await verify(target, SERVED, http=http, clock=FakeClock(START), limits=probe_limits())
    found = statuses(outcomes)
    assert {rule for rule, status in found.items() if status is Status.SKIP} == ENTRY_RULES
    assert {status for rule, status in found.items() if rule not in ENTRY_RULES} == {Status.FAIL}
    assert "connect" in detail(outcomes, "list.shape")
    assert "no call was answered" in detail(outcomes, "limits.time")
    assert "no call was answered" in detail(outcomes, "limits.size")


def socket_closed() -> contextlib.AbstractContextManager[str]:
    """The URL of a loopback port nothing listens on (bound, then released)."""

    @contextlib.contextmanager
    def closed() -> Iterator[str]:
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        holder.close()
        yield f"http://127.0.0.1:{port}"

    return closed()
