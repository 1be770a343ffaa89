"""The shape of ``governance/policies.yaml`` and its loader (pydantic: errors name the field).

A wrong policy fails at load with the file, the field (dotted path) and the reason, like a contract.
References are checked against the contracts: a grant, mask or filter naming a dataset or column
that no contract has is an error, not a silent no-op.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from platform_assets.contracts.documents import load_document
from platform_assets.contracts.model import _OWNER, LAYERS, Classification, Contract, DatasetRef

POLICIES_FILE = Path(__file__).parent / "policies.yaml"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")  # a caller attribute inside a row filter


class PolicyError(ValueError):
    """A policy file that cannot be used, with where and why."""

    def __init__(self, path: Path | str, field: str, reason: str) -> None:
        self.path, self.field, self.reason = str(path), field, reason
        super().__init__(f"policies {path}: field '{field}': {reason}")


class MaskMethod(StrEnum):
    NONE = "none"  # shown as stored
    REDACT = "redact"  # a fixed marker (NULL for non-text columns)
    HASH = "hash"  # salted SHA-256: deterministic, so joins and counts still work
    PARTIAL = "partial"  # first character kept: j***@example.com, or j***
    NULL = "null"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Selector(_Strict):
    """Which datasets: one by name, or a layer (``*``: every layer) and/or a domain."""

    dataset: str | None = None
    layer: str | None = None
    domain: str | None = None

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str | None) -> str | None:
        if value is not None:
            DatasetRef.parse(value)
        return value

    @field_validator("layer")
    @classmethod
    def _layer(cls, value: str | None) -> str | None:
        if value is not None and value != "*" and value not in LAYERS:
            raise ValueError(f"layer {value!r} is not one of {', '.join(LAYERS)} or '*'")
        return value

    @model_validator(mode="after")
    def _some(self) -> Selector:
        if self.dataset is None and self.layer is None and self.domain is None:
            raise ValueError("names no dataset, layer or domain")
        if self.dataset is not None and (self.layer or self.domain):
            raise ValueError("a dataset grant cannot also name a layer or domain")
        return self

    def matches(self, dataset: str, domain: str | None) -> bool:
        if self.dataset is not None:
            return self.dataset == dataset
        layer = dataset.split("/")[0]
        return (self.layer in (None, "*", layer)) and (self.domain is None or self.domain == domain)


class Mask(_Strict):
    """A column mask: by classification (every column so tagged) or one ``layer/table.column``."""

    classification: Classification | None = None
    column: str | None = None
    method: MaskMethod

    @field_validator("column")
    @classmethod
    def _column(cls, value: str | None) -> str | None:
        if value is not None:
            dataset, _, column = value.rpartition(".")
            DatasetRef.parse(dataset)
            if not column:
                raise ValueError(f"column {value!r} must be '<layer>/<table>.<column>'")
        return value

    @model_validator(mode="after")
    def _one(self) -> Mask:
        if (self.classification is None) == (self.column is None):
            raise ValueError("a mask names exactly one of classification or column")
        return self


class RowFilter(Selector):
    """A SQL predicate over the table's columns; ``{attr}`` is the caller's attribute, as a literal."""

    where: str = Field(min_length=1)


class Role(_Strict):
    description: str = Field(min_length=1)
    grants: list[Selector] = Field(default_factory=list)
    masks: list[Mask] = Field(default_factory=list)
    row_filters: list[RowFilter] = Field(default_factory=list)
    attributes: list[str] = Field(default_factory=list, description="caller attributes it must present")

    @model_validator(mode="after")
    def _placeholders(self) -> Role:
        for position, row_filter in enumerate(self.row_filters):
            for name in PLACEHOLDER.findall(row_filter.where):
                if name not in self.attributes:
                    raise ValueError(
                        f"row_filters[{position}].where: uses {{{name}}}, which is not in attributes"
                    )
        return self


class Defaults(_Strict):
    unclassified: Classification = Classification.PII
    masks: list[Mask] = Field(default_factory=list)


class Policies(_Strict):
    default_role: str
    service_role: str
    report_role: str | None = Field(
        None, description="whose view report samples show (DQ report, Data Docs); default: default_role"
    )
    defaults: Defaults = Field(default_factory=Defaults)
    roles: dict[str, Role] = Field(min_length=1)
    approvers: dict[str, list[str]] = Field(
        default_factory=dict,
        description="per domain, who besides the contract's owners may approve a breaking contract change",
    )

    @field_validator("approvers")
    @classmethod
    def _approvers(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for domain, people in value.items():
            for person in people:
                if not _OWNER.match(person):
                    raise ValueError(
                        f"{domain}: approver {person!r} must be an email address or 'team:<name>'"
                    )
        return value

    def may_approve(self, person: str, contract: Contract) -> bool:
        """A contract change may be approved by one of its owners or an approver of its domain."""
        return person in contract.owners or person in self.approvers.get(contract.domain or "", [])

    @field_validator("roles")
    @classmethod
    def _names(cls, value: dict[str, Role]) -> dict[str, Role]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"role name {name!r} must be lower-case letters, digits and underscores")
        return value

    @model_validator(mode="after")
    def _known_roles(self) -> Policies:
        for field in ("default_role", "service_role", "report_role"):
            if getattr(self, field) is not None and getattr(self, field) not in self.roles:
                raise ValueError(f"{field}: {getattr(self, field)!r} is not a role defined under roles")
        return self


def _known_dataset(dataset: str, contracts: dict[str, Contract]) -> bool:
    return dataset in contracts or dataset.removesuffix("_dlq") in contracts


def _check_references(path: Path, policies: Policies, contracts: dict[str, Contract]) -> None:
    domains = {c.domain for c in contracts.values()}
    for domain in policies.approvers:
        if domain not in domains:
            raise PolicyError(path, f"approvers.{domain}", f"no contract has domain {domain!r}")
    for role_name, role in policies.roles.items():
        for group in ("grants", "row_filters"):
            for position, selector in enumerate(getattr(role, group)):
                where = f"roles.{role_name}.{group}[{position}]"
                if selector.dataset is not None and not _known_dataset(selector.dataset, contracts):
                    raise PolicyError(path, f"{where}.dataset", f"{selector.dataset!r} has no contract")
                if selector.domain is not None and selector.domain not in domains:
                    raise PolicyError(path, f"{where}.domain", f"no contract has domain {selector.domain!r}")
        for position, mask in enumerate(role.masks):
            if mask.column is None:
                continue
            dataset, _, column = mask.column.rpartition(".")
            where = f"roles.{role_name}.masks[{position}].column"
            if dataset not in contracts:
                raise PolicyError(path, where, f"{dataset!r} has no contract")
            if column not in contracts[dataset].column_names:
                raise PolicyError(path, where, f"{dataset} has no column {column!r}")


def load_policies(contracts: dict[str, Contract], path: Path = POLICIES_FILE) -> Policies:
    policies = load_document(path, Policies, PolicyError, "(policies)", "the policies", "docs/governance.md")
    _check_references(path, policies, contracts)
    return policies
