"""API keys and their whitelists as the API reads and writes them."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from app.core.schemas import RequestModel
from app.signed_api.models import IP_ADDRESS_LENGTH, MEMO_LENGTH, ApiKeyStatus


def normalize_ip_entry(value: str) -> str:
    """One address → its canonical text ("203.0.113.7", "2001:db8::1"); a range → its
    canonical CIDR ("10.0.0.0/24"). A range of one address is stored as the address, so
    the same entry cannot be added twice under two spellings."""
    text = value.strip()
    if "%" in text:
        raise ValueError("an address with a zone index (%) cannot be whitelisted")
    if "/" not in text:
        try:
            address: IPv4Address | IPv6Address = ip_address(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IPv4 or IPv6 address or a CIDR range "
                '(e.g. "203.0.113.7" or "10.0.0.0/24")'
            ) from None
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return str(address)
    try:
        network = ip_network(text)
    except ValueError:
        try:
            suggestion = ip_network(text, strict=False)
        except ValueError:
            raise ValueError(
                f'{value!r} is not a CIDR range (e.g. "10.0.0.0/24" or "2001:db8::/32")'
            ) from None
        raise ValueError(
            f"{value!r} has bits set after the prefix; did you mean {str(suggestion)!r}?"
        ) from None
    if network.num_addresses == 1:
        return str(network.network_address)
    return str(network)


Memo = Annotated[str, Field(max_length=MEMO_LENGTH)]
IpEntry = Annotated[
    str, Field(min_length=1, max_length=IP_ADDRESS_LENGTH), AfterValidator(normalize_ip_entry)
]


class ApiKeyCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")

    memo: Memo | None = None


class ApiKeyUpdate(RequestModel):
    """Only what is sent changes; `memo: null` clears the memo."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    memo: Memo | None = None
    status: ApiKeyStatus | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_null_status(cls, data: Any) -> Any:
        if isinstance(data, dict) and "status" in data and data["status"] is None:
            raise ValueError('status cannot be null; send "active" or "stopped"')
        return data


class WhitelistEntryCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")

    ip_address: IpEntry


class WhitelistEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ip_address: str
    created_at: datetime


class ApiKeyRead(BaseModel):
    """A key as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    access_key: str
    memo: str | None
    status: ApiKeyStatus
    created_at: datetime
    whitelist: list[WhitelistEntryRead]


class ApiKeyCreated(BaseModel):
    """The answer to creating a key: the only time the secret is shown."""

    id: int
    access_key: str
    secret_key: str
    memo: str | None
    status: ApiKeyStatus
    created_at: datetime
