"""`ses-domain`: the sending domain's identity and DKIM in SES, its records in Route 53.

Run as the command line runs it, against moto's server on 127.0.0.1 standing in for both
SES and Route 53 (SES_ENDPOINT_URL, SES_ROUTE53_ENDPOINT_URL).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from app.cli import run
from app.plugins.ses.settings import SesSettings
from tests.fakes.server import LiveServer

DOMAIN = "mail.example.com"
REGION = "eu-west-1"
CREDENTIALS = {
    "aws_access_key_id": "AKIATESTDOMAINSETUP",
    "aws_secret_access_key": "ses-domain-test-secret-0123456789",
}


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh moto, and the SES_* settings that point the command at it."""
    httpx.post(f"{moto_url}/moto-api/reset").raise_for_status()
    for name in SesSettings.model_fields:
        monkeypatch.delenv(f"SES_{name.upper()}", raising=False)
    for name, value in {
        "SES_REGION": REGION,
        "SES_ENDPOINT_URL": moto_url,
        "SES_ROUTE53_ENDPOINT_URL": moto_url,
        "SES_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "SES_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
    }.items():
        monkeypatch.setenv(name, value)
    yield moto_url


def client(service: str, url: str) -> Any:
    region = "us-east-1" if service == "route53" else REGION
    return boto3.client(service, region_name=region, endpoint_url=url, **CREDENTIALS)


def create_zone(url: str, name: str, *, private: bool = False) -> str:
    extra: dict[str, Any] = {}
    if private:
        vpc = client("ec2", url).create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        extra = {
            "HostedZoneConfig": {"PrivateZone": True, "Comment": "inside"},
            "VPC": {"VPCRegion": REGION, "VPCId": vpc},
        }
    zone = client("route53", url).create_hosted_zone(
        Name=name, CallerReference=str(uuid.uuid4()), **extra
    )
    return str(zone["HostedZone"]["Id"])


def records_of(url: str, zone_id: str) -> dict[tuple[str, str], list[str]]:
    """(name, type) → values, of the records other than the zone's own NS and SOA."""
    answer = client("route53", url).list_resource_record_sets(HostedZoneId=zone_id)
    return {
        (record["Name"].rstrip("."), record["Type"]): sorted(
            entry["Value"] for entry in record["ResourceRecords"]
        )
        for record in answer["ResourceRecordSets"]
        if record["Type"] not in ("NS", "SOA")
    }


def expected_records(url: str) -> dict[tuple[str, str], list[str]]:
    """What SES asks for: the tokens it hands back for the domain (the same each time)."""
    ses = client("ses", url)
    token = ses.verify_domain_identity(Domain=DOMAIN)["VerificationToken"]
    dkim = ses.get_identity_dkim_attributes(Identities=[DOMAIN])["DkimAttributes"][DOMAIN]
    assert len(dkim["DkimTokens"]) == 3
    return {
        (f"_amazonses.{DOMAIN}", "TXT"): [f'"{token}"'],
        **{
            (f"{dkim_token}._domainkey.{DOMAIN}", "CNAME"): [f"{dkim_token}.dkim.amazonses.com"]
            for dkim_token in dkim["DkimTokens"]
        },
    }


async def ses_domain(*argv: str) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    code = await run(["ses-domain", *argv], stdout=out, stderr=err)
    return Outcome(code, out.getvalue(), err.getvalue())


async def test_the_records_go_into_the_hosted_zone_and_a_second_run_changes_nothing(
    aws: str,
) -> None:
    zone_id = create_zone(aws, "example.com")

    first = await ses_domain(DOMAIN)

    assert first.exit_code == 0, first.stderr
    identities = client("ses", aws).list_identities(IdentityType="Domain")["Identities"]
    assert identities == [DOMAIN]
    written = records_of(aws, zone_id)
    assert written == expected_records(aws)
    assert first.stdout.count("Route 53 (example.com.): created") == 4
    assert "Nothing to do by hand" in first.stdout

    second = await ses_domain(DOMAIN)

    assert second.exit_code == 0, second.stderr
    assert records_of(aws, zone_id) == written
    assert second.stdout.count("Route 53 (example.com.): unchanged") == 4
    assert "created" not in second.stdout and "updated" not in second.stdout


async def test_a_verification_record_of_another_region_is_kept(aws: str) -> None:
    zone_id = create_zone(aws, "example.com")
    client("route53", aws).change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"_amazonses.{DOMAIN}",
                        "Type": "TXT",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": '"token-of-us-east-1"'}],
                    },
                }
            ]
        },
    )

    outcome = await ses_domain(DOMAIN)

    assert outcome.exit_code == 0, outcome.stderr
    assert f"updated TXT _amazonses.{DOMAIN}" in outcome.stdout
    [ours] = expected_records(aws)[(f"_amazonses.{DOMAIN}", "TXT")]
    assert records_of(aws, zone_id)[(f"_amazonses.{DOMAIN}", "TXT")] == sorted(
        ['"token-of-us-east-1"', ours]
    )


async def test_the_most_specific_zone_gets_the_records(aws: str) -> None:
    parent = create_zone(aws, "example.com")
    own = create_zone(aws, DOMAIN)

    outcome = await ses_domain(DOMAIN)

    assert outcome.exit_code == 0, outcome.stderr
    assert records_of(aws, own) == expected_records(aws)
    assert records_of(aws, parent) == {}


@pytest.mark.parametrize("zone", ["none", "private", "not-asked"])
async def test_without_a_zone_to_write_the_records_are_printed_for_the_user(
    aws: str, zone: str
) -> None:
    zone_id = create_zone(aws, "example.com", private=zone == "private") if zone != "none" else ""

    outcome = await ses_domain(DOMAIN, *(["--no-route53"] if zone == "not-asked" else []))

    assert outcome.exit_code == 0, outcome.stderr
    assert "Add these records at your DNS provider" in outcome.stdout
    for (name, record_type), [value] in expected_records(aws).items():
        assert f"{name}  {record_type}  {value}" in outcome.stdout
    if zone_id:
        assert records_of(aws, zone_id) == {}
    if zone != "not-asked":
        assert f"No public Route 53 hosted zone holds {DOMAIN}" in outcome.stdout


async def test_a_name_that_is_not_a_domain_is_a_usage_mistake(aws: str) -> None:
    outcome = await ses_domain("not a domain")

    assert outcome.exit_code == 2
    assert "is not a domain name" in outcome.stderr
    assert client("ses", aws).list_identities()["Identities"] == []


async def test_aws_out_of_reach_is_a_failure_that_says_so(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = LiveServer()  # bound, never started: connections are refused
    monkeypatch.setenv("SES_ENDPOINT_URL", server.url)
    try:
        outcome = await ses_domain(DOMAIN)
    finally:
        server.stop()

    assert outcome.exit_code == 1
    assert "AWS could not be reached" in outcome.stderr


async def test_the_command_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(["--help"]) == 0
    assert "ses-domain" in capsys.readouterr().out

    assert await run(["ses-domain", "--help"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("Usage: ") and "ses-domain [OPTIONS] DOMAIN" in shown
    assert "--no-route53" in shown
