"""`ses-domain DOMAIN`: make a domain an SES sending identity with DKIM, and publish its
DNS records in Route 53 when a public hosted zone there holds the domain.

SES asks for a TXT record (`_amazonses.<domain>`, the domain's verification) and three
CNAMEs (`<token>._domainkey.<domain>`, Easy DKIM). Asking SES again hands back the same
tokens, and a record already in place is left as it is, so running the command twice
changes nothing the second time. Without a hosted zone (or with `--no-route53`) the
records are printed for the user to add at their DNS provider.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import click
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from app.cli.terminal import EXIT_OK, EXIT_USAGE, Job, Terminal, pass_terminal
from app.plugins.ses.notifier import aws_session
from app.plugins.ses.settings import SesSettings

RECORD_TTL_SECONDS = 1800
# Route 53 is a global service, signed for this region.
ROUTE53_REGION = "us-east-1"
DOMAIN_PATTERN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
)


@dataclass(frozen=True)
class DnsRecord:
    name: str  # fully qualified, lower-case, without the final dot
    type: str  # "TXT" or "CNAME"
    value: str  # as DNS holds it: a TXT value in double quotes

    def line(self) -> str:
        return f"  {self.name}  {self.type}  {self.value}"


def domain_records(domain: str, verification_token: str, dkim_tokens: list[str]) -> list[DnsRecord]:
    return [
        DnsRecord(f"_amazonses.{domain}", "TXT", f'"{verification_token}"'),
        *(
            DnsRecord(f"{token}._domainkey.{domain}", "CNAME", f"{token}.dkim.amazonses.com")
            for token in dkim_tokens
        ),
    ]


def _domain(ctx: click.Context, param: click.Parameter, value: str) -> str:
    domain = value.strip().lower().rstrip(".")
    if not DOMAIN_PATTERN.match(domain):
        raise click.BadParameter(f"{value!r} is not a domain name such as mail.example.com")
    return domain


@click.command("ses-domain")
@click.argument("domain", callback=_domain)
@click.option(
    "--route53/--no-route53",
    default=True,
    show_default=True,
    help="Write the records into the domain's public Route 53 hosted zone, if there is "
    "one; --no-route53 only prints them.",
)
@pass_terminal
def ses_domain(terminal: Terminal, domain: str, route53: bool) -> Job:
    """Set up DOMAIN for sending through SES: identity, DKIM, DNS records.

    Asks SES to verify DOMAIN and to turn on Easy DKIM, then writes the verification TXT
    and the three DKIM CNAME records into the Route 53 hosted zone that holds DOMAIN, or
    prints them to add by hand. Safe to run again: records in place are left alone.
    Uses the SES_* settings (region, credentials, SES_ENDPOINT_URL,
    SES_ROUTE53_ENDPOINT_URL).
    """
    return set_up_domain(terminal, domain, use_route53=route53)


async def set_up_domain(terminal: Terminal, domain: str, *, use_route53: bool) -> int:
    def say(text: str = "") -> None:
        click.echo(text, file=terminal.out)

    try:
        settings = SesSettings()
    except ValidationError as exc:
        return terminal.fail(f"the SES_* settings are not valid: {exc}", EXIT_USAGE)
    try:
        records, status = await _ask_ses(settings, domain)
        say(f"SES ({settings.region}): {domain} is a sending identity; {status}.")
        if use_route53:
            zone = await _publish(settings, domain, records, say)
            if zone is not None:
                say(
                    "Nothing to do by hand: SES sees the records once DNS serves them "
                    "(minutes, at most 72 hours). Run this again to see the status."
                )
                return EXIT_OK
            say(f"No public Route 53 hosted zone holds {domain}.")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return terminal.fail(f"AWS refused: {error.get('Code')}: {error.get('Message')}")
    except (BotoCoreError, OSError) as exc:
        return terminal.fail(f"AWS could not be reached: {type(exc).__name__}: {exc}")
    say("Add these records at your DNS provider (TTL 1800 is fine):")
    for record in records:
        say(record.line())
    say(
        "SES sees them once DNS serves them (minutes, at most 72 hours); run this again "
        "to see the status."
    )
    return EXIT_OK


def _client(settings: SesSettings, service: str, region: str, endpoint_url: str) -> Any:
    credentials: dict[str, str] = {}
    if settings.access_key_id:
        credentials = {
            "aws_access_key_id": settings.access_key_id,
            "aws_secret_access_key": settings.secret_access_key.get_secret_value(),
        }
    config = AioConfig(
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        # Every call made here can be repeated safely; a few tries ride out a blip.
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    return aws_session().client(
        service,
        region_name=region,
        endpoint_url=endpoint_url or None,
        config=config,
        **credentials,
    )


async def _ask_ses(settings: SesSettings, domain: str) -> tuple[list[DnsRecord], str]:
    """The domain's records, and what SES says of it. Both calls are idempotent in SES:
    for a domain it has, it hands back the tokens it gave before."""
    async with _client(settings, "ses", settings.region, settings.endpoint_url) as ses:
        token = (await ses.verify_domain_identity(Domain=domain))["VerificationToken"]
        dkim_tokens = (await ses.verify_domain_dkim(Domain=domain))["DkimTokens"]
        verification = await ses.get_identity_verification_attributes(Identities=[domain])
        dkim = await ses.get_identity_dkim_attributes(Identities=[domain])
    verified = verification["VerificationAttributes"].get(domain, {})
    dkim_status = dkim["DkimAttributes"].get(domain, {}).get("DkimVerificationStatus")
    status = (
        f"verification {verified.get('VerificationStatus', 'Pending')}, "
        f"DKIM {dkim_status or 'Pending'}"
    )
    return domain_records(domain, token, list(dkim_tokens)), status


async def _publish(
    settings: SesSettings, domain: str, records: list[DnsRecord], say: Any
) -> str | None:
    """Write what is missing into the hosted zone that holds `domain`; its name, or None
    when Route 53 has no public zone for it."""
    async with _client(
        settings, "route53", ROUTE53_REGION, settings.route53_endpoint_url
    ) as route53:
        zone = await _hosted_zone(route53, domain)
        if zone is None:
            return None
        zone_id, zone_name = zone
        changes = []
        for record in records:
            action, change = await _change_for(route53, zone_id, record)
            say(f"Route 53 ({zone_name}): {action} {record.type} {record.name}")
            if change is not None:
                changes.append(change)
        if changes:
            await route53.change_resource_record_sets(
                HostedZoneId=zone_id,
                ChangeBatch={"Comment": f"SES identity {domain}", "Changes": changes},
            )
        return zone_name


async def _hosted_zone(route53: Any, domain: str) -> tuple[str, str] | None:
    """(id, name) of the most specific public hosted zone holding `domain`."""
    labels = domain.split(".")
    for start in range(len(labels) - 1):
        name = ".".join(labels[start:]) + "."
        answer = await route53.list_hosted_zones_by_name(DNSName=name, MaxItems="100")
        for zone in answer.get("HostedZones", []):
            private = zone.get("Config", {}).get("PrivateZone", False)
            if zone["Name"].lower() == name and not private:
                return str(zone["Id"]), name
    return None


async def _change_for(
    route53: Any, zone_id: str, record: DnsRecord
) -> tuple[str, dict[str, Any] | None]:
    """What to do for one record: ("unchanged", None), or ("created"/"updated", an UPSERT).

    A TXT record keeps the values it has (another region's SES token, say) and gains ours.
    """
    answer = await route53.list_resource_record_sets(
        HostedZoneId=zone_id,
        StartRecordName=record.name,
        StartRecordType=record.type,
        MaxItems="1",
    )
    existing: list[str] = []
    for record_set in answer.get("ResourceRecordSets", []):
        if record_set["Name"].lower().rstrip(".") == record.name and (
            record_set["Type"] == record.type
        ):
            existing = [entry["Value"] for entry in record_set.get("ResourceRecords", [])]
    if record.value in existing:
        return "unchanged", None
    values = [*existing, record.value] if record.type == "TXT" else [record.value]
    change = {
        "Action": "UPSERT",
        "ResourceRecordSet": {
            "Name": record.name,
            "Type": record.type,
            "TTL": RECORD_TTL_SECONDS,
            "ResourceRecords": [{"Value": value} for value in values],
        },
    }
    return ("updated" if existing else "created"), change
