"""What a principal may do (``can``) and what rows and fields it may see (``security_for``).

Every permission is one row of ``RULES`` (action → key scope needed + rule on the principal
and dataset), in the spirit of CKAN's action/auth table: an endpoint asks ``can(principal,
action, dataset)`` and never re-derives a rule. Admins may do everything their key allows.

Everything here is pure: a dataset is described by a ``DatasetRef`` (uid, owner, visibility,
grants by login and group name) that ``services.dataset_ref`` builds from the database, and a
ruleset by any object with ``record_filters`` and ``hidden_fields`` (a ``DatasetSecurity`` row).
``security_for`` returns data only; ``odsql.compile`` turns it into SQL later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from portail.auth.principal import Principal

#: The key of the default ruleset in ``record_filters``/``hidden_fields``: it applies to every
#: caller (anonymous included) who matches no group ruleset of the dataset.
DEFAULT_RULESET = "*"


@dataclass(frozen=True)
class DatasetRef:
    """What the rules need to know about one dataset."""

    uid: str
    slug: str = ""
    owner: str | None = None  # the ``owner`` metadata, compared with logins
    visibility: str = "public"  # public | restricted
    metadata_public: bool = False  # restricted records, but the catalogue shows the metadata to all
    user_grants: frozenset[str] = frozenset()  # logins
    group_grants: frozenset[str] = frozenset()  # group names


class Ruleset(Protocol):
    record_filters: Mapping[str, Any] | None
    hidden_fields: Mapping[str, Any] | None


@dataclass(frozen=True)
class Security:
    """What one caller sees of one dataset: rows matching ANY of ``row_filter_texts`` (none: all
    rows), minus ``hidden_fields``."""

    row_filter_texts: list[str] = field(default_factory=list)
    hidden_fields: frozenset[str] = frozenset()

    @property
    def unrestricted(self) -> bool:
        return not self.row_filter_texts and not self.hidden_fields

    def where_text(self) -> str | None:
        """The filters as one ODSQL ``where`` (each parenthesised, OR-ed); ``None`` when no filter."""
        if not self.row_filter_texts:
            return None
        if len(self.row_filter_texts) == 1:
            return self.row_filter_texts[0]
        return " OR ".join(f"({text})" for text in self.row_filter_texts)


# -- the predicates the rules are made of -----------------------------------------------------
def owner_login(owner: str | None) -> str | None:
    """The login a dataset's ``owner`` metadata names (typed by a person: spaces of any kind
    around it, any case): the one reading of it, for access and for a user's deletion."""
    return owner.strip().lower() if owner is not None else None


def is_owner(p: Principal, d: DatasetRef) -> bool:
    return p.login is not None and owner_login(d.owner) == p.login


def is_granted(p: Principal, d: DatasetRef) -> bool:
    return (p.login is not None and p.login in d.user_grants) or bool(p.groups & d.group_grants)


def _readable(p: Principal, d: DatasetRef | None) -> bool:
    return d is None or d.visibility == "public" or is_granted(p, d) or is_owner(p, d)


def _listed(p: Principal, d: DatasetRef | None) -> bool:
    return _readable(p, d) or (d is not None and d.metadata_public)


def _edits(p: Principal, d: DatasetRef | None) -> bool:
    return d is not None and "publisher" in p.roles and (is_owner(p, d) or is_granted(p, d))


def _publishes(p: Principal, d: DatasetRef | None) -> bool:
    return _edits(p, d) or (d is not None and "data_owner" in p.roles and is_owner(p, d))


def _creates(p: Principal, _: DatasetRef | None) -> bool:
    return "publisher" in p.roles


def _signed_in(p: Principal, _: DatasetRef | None) -> bool:
    return p.is_authenticated


def _admins_only(_: Principal, __: DatasetRef | None) -> bool:
    return False


@dataclass(frozen=True)
class Rule:
    scope: str  # the key scope the action needs: read | manage
    check: Callable[["Principal", DatasetRef | None], bool]  # for non-admins
    needs_dataset: bool = False  # the action is about one dataset: refused without one
    doc: str = ""
    #: May an application acting through an OAuth2 token do it? Not what creates credentials or
    #: grants access (users, keys, security): they would outlive the token and its revocation.
    delegable: bool = True


RULES: dict[str, Rule] = {
    "read_catalog": Rule("read", _listed, doc="see the dataset in the catalogue (None: list the catalogue); "
                                              "a restricted dataset with public metadata is listed to everyone"),
    "read_records": Rule("read", _readable, True, "query records, facets, exports"),
    "create_dataset": Rule("manage", _creates, doc="publishers create datasets"),
    "edit_dataset": Rule("manage", _edits, True, "publishers edit datasets they own or hold a grant on"),
    "publish_dataset": Rule("manage", _publishes, True,
                            "editors publish; data owners publish the datasets they own"),
    "manage_security": Rule("manage", _admins_only, doc="visibility, grants, rulesets", delegable=False),
    "manage_users": Rule("manage", _admins_only, doc="users and groups", delegable=False),
    "manage_keys": Rule("manage", _signed_in, doc="one's own API keys (admins: everyone's)", delegable=False),
}
ACTIONS = tuple(RULES)


def _key_allows(p: Principal, scope: str, d: DatasetRef | None) -> bool:
    """A key narrows its user's rights: its scopes, and its dataset list if it has one (such a key
    may still list the catalogue, each entry being checked on its own)."""
    if p.scopes is not None and scope not in p.scopes:
        return False
    if p.datasets is not None:
        return d.uid in p.datasets if d is not None else scope == "read"
    return True


def can(principal: Principal, action: str, dataset: DatasetRef | None = None) -> bool:
    """May ``principal`` do ``action`` (a key of ``RULES``) on ``dataset`` (or in general)?"""
    try:
        rule = RULES[action]
    except KeyError:
        raise ValueError(f"Unknown action {action!r}; known: {', '.join(ACTIONS)}") from None
    if rule.needs_dataset and dataset is None:
        return False
    if not _key_allows(principal, rule.scope, dataset):
        return False
    if principal.oauth_client is not None and not rule.delegable:
        return False
    return principal.is_admin or rule.check(principal, dataset)


def may_hold_manage_scope(principal: Principal) -> bool:
    """May a key of ``principal`` carry ``manage``? Only if they could change a dataset they own
    (publishers, data owners, admins): a viewer's ``manage`` key would only manage its user's own
    keys, a stronger secret to leak for nothing."""
    return can(principal, "publish_dataset", DatasetRef(uid="", owner=principal.login))


def may_manage_keys_of(principal: Principal, owner_user_id: int) -> bool:
    """Admins manage every key; other users their own."""
    return can(principal, "manage_keys") and (principal.is_admin or principal.user_id == owner_user_id)


# -- row and field security -------------------------------------------------------------------
def _matching_rulesets(principal: Principal, dataset: DatasetRef, filters: Mapping[str, Any],
                       hidden: Mapping[str, Any]) -> list[str]:
    """The caller's groups that have a ruleset; none: the default ruleset if there is one.

    On a restricted dataset, a caller reading through a granted group is bound by the granted
    groups' rulesets only: rulesets are unioned, and a group whose grant was revoked (its
    ruleset left in place) still added its rows and fields for members of another granted group
    (a ``dep31`` member also in ``dep69`` kept reading ``dep69``'s rows). A caller in no granted
    group (reading through a grant of their own) stays bound by their groups' rulesets."""
    groups = sorted(g for g in principal.groups if g in filters or g in hidden)
    if dataset.visibility == "restricted" and not principal.groups.isdisjoint(dataset.group_grants):
        groups = [g for g in groups if g in dataset.group_grants]
    if groups:
        return groups
    return [DEFAULT_RULESET] if DEFAULT_RULESET in filters or DEFAULT_RULESET in hidden else []


def sees_whole(principal: Principal, dataset: DatasetRef) -> bool:
    """Admins, the dataset's owner and its editors (publishers holding a grant, their own or a
    group's): no ruleset binds them. Deliberately: an editor sets the pipeline and reloads the
    data, so a record filter or a hidden field could keep nothing from them, and an editor who saw
    a filtered table would publish blind. ``services.whole_viewers`` names them for the admin."""
    return principal.is_admin or is_owner(principal, dataset) or _edits(principal, dataset)


def security_for(principal: Principal, dataset: DatasetRef, security_row: Ruleset | None) -> Security:
    """The rows and fields ``principal`` may see of ``dataset`` (read access is ``can``'s business).

    Rulesets are per group; a caller matching several gets the union of what each grants: rows
    matching any of their filters (a matching ruleset without a filter grants every row) and the
    fields any of them shows (a field stays hidden only if every matching ruleset hides it). A
    caller matching no group ruleset gets the default one (``"*"``), as in Opendatasoft. Those who
    ``sees_whole`` see it whole.
    """
    if security_row is None or sees_whole(principal, dataset):
        return Security()
    filters: Mapping[str, Any] = security_row.record_filters or {}
    hidden: Mapping[str, Any] = security_row.hidden_fields or {}
    keys = _matching_rulesets(principal, dataset, filters, hidden)
    if not keys:
        return Security()
    texts = [str(filters.get(k) or "").strip() for k in keys]
    row_filters = [] if not all(texts) else list(dict.fromkeys(texts))
    hidden_sets = [frozenset(hidden.get(k) or ()) for k in keys]
    return Security(row_filters, frozenset.intersection(*hidden_sets))
