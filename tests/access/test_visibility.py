"""Who sees which credit and case, route by route, as a table.

Each row: the caller's role, whose credit it is, and the expected answer of
every route. Reads and the case run on one credit; each write gets its own.
"""

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access.models import ShareAccess
from tests.access.support import AccessOrg, Made, make_credit, share

# The caller for each role.
VIEWER = {
    "junior_agent": "junior",
    "agent": "agent",
    "team_lead": "lead",
    "manager": "manager",
    "finance": "finance",
    "auditor": "auditor",
    "admin": "admin",
}

# Whose credit "a peer's in the same team" is, for each caller: someone in
# team A outside the caller's own line.
PEER = {"junior": "agent_peer", "agent": "agent_peer", "lead": "lead_peer"}
PEER |= {"manager": "manager_peer"}
SUBORDINATE = {"lead": "agent", "manager": "agent"}

ROUTES = ("get", "history", "approve", "reject", "recall", "share", "list")
ROUTES += ("case", "cases")

HIDDEN = "404 404 404 404 404 404 out 404 out"
READ = "200 200 403 403 403 403 in 200 in"
EDIT = "200 200 403 403 200 201 in 200 in"
TEAM_CASE = "404 404 404 404 404 404 out 200 in"

# role -> ownership -> expected answers, in ROUTES order.
MATRIX: dict[str, dict[str, str]] = {
    "junior_agent": {
        "peer": TEAM_CASE,
        "other_team": HIDDEN,
        "shared": READ,
        "shared_edit": EDIT,
        "revoked": HIDDEN,
        "rule": READ,
    },
    "agent": {
        "own": EDIT,
        "peer": TEAM_CASE,
        "other_team": HIDDEN,
        "shared": READ,
        "shared_edit": EDIT,
        "revoked": HIDDEN,
        "rule": READ,
    },
    "team_lead": {
        "own": EDIT,
        # The lead is the agent's manager: the step is theirs to decide.
        "subordinate": "200 200 200 200 403 201 in 200 in",
        "peer": TEAM_CASE,
        "other_team": HIDDEN,
        "shared": READ,
        "shared_edit": EDIT,
        "revoked": HIDDEN,
        "rule": READ,
    },
    "manager": {
        "own": EDIT,
        # Two levels down: visible and shareable, but the lead decides.
        "subordinate": "200 200 403 403 403 201 in 200 in",
        "peer": TEAM_CASE,
        "other_team": HIDDEN,
        "shared": READ,
        "shared_edit": EDIT,
        "revoked": HIDDEN,
        "rule": READ,
    },
    # Finance, auditors and administrators see everything and own nothing;
    # the steps here are a manager's, so finance has nothing to decide.
    **{
        role: {
            "peer": READ,
            "other_team": READ,
            "shared": READ,
            "revoked": READ,
            "rule": READ,
        }
        for role in ("finance", "auditor", "admin")
    },
}

CASES = [
    pytest.param(role, ownership, expected, id=f"{role}-{ownership}")
    for role, row in MATRIX.items()
    for ownership, expected in row.items()
]


@dataclass
class Scene:
    client: TestClient
    factory: sessionmaker[Session]
    people: AccessOrg
    viewer: str

    def credit(self, ownership: str) -> Made:
        """A new pending credit of the given ownership, relative to the viewer."""
        people, viewer = self.people, self.people.users[self.viewer]
        owner = {
            "own": self.viewer,
            "subordinate": SUBORDINATE.get(self.viewer),
            "peer": PEER.get(self.viewer, "agent_peer"),
            "rule": "c_agent",
        }.get(ownership, "b_agent")
        made = make_credit(self.factory, people.users[owner])
        if ownership in ("shared", "shared_edit", "revoked"):
            access = (
                ShareAccess.EDIT if ownership == "shared_edit" else ShareAccess.READ
            )
            share(
                self.factory,
                made.credit_id,
                owner=people.users[owner],
                grantee=viewer,
                access=access,
                revoke=ownership == "revoked",
            )
        return made

    def call(self, route: str, made: Made) -> str:
        base = f"/api/v1/credits/{made.credit_id}"
        headers = self.people.auth(self.viewer)
        post = self.client.post
        if route == "list":
            return self._listed("/api/v1/credits", made.case_id, "case_id", made)
        if route == "cases":
            return self._listed("/api/v1/cases", made.account_id, "account_id", made)
        response = {
            "get": lambda: self.client.get(base, headers=headers),
            "history": lambda: self.client.get(f"{base}/history", headers=headers),
            "approve": lambda: post(f"{base}/approve", headers=headers),
            "reject": lambda: post(
                f"{base}/reject", json={"comment": "no"}, headers=headers
            ),
            "recall": lambda: post(f"{base}/recall", headers=headers),
            "share": lambda: post(
                f"{base}/shares",
                json={"user_id": self.people.id("auditor")},
                headers=headers,
            ),
            "case": lambda: self.client.get(
                f"/api/v1/cases/{made.case_id}", headers=headers
            ),
        }[route]()
        return str(response.status_code)

    def _listed(self, path: str, value: int, name: str, made: Made) -> str:
        page = self.client.get(
            path, params={name: value}, headers=self.people.auth(self.viewer)
        )
        assert page.status_code == 200, page.text
        ids = [item["id"] for item in page.json()["items"]]
        wanted = made.credit_id if path.endswith("credits") else made.case_id
        return "in" if wanted in ids else "out"


WRITES = ("approve", "reject", "recall", "share")

# Tokens of these roles never carry the approve scope, so deciding is refused
# before any credit is looked up: the same 403 for every id, visible or not,
# existing or not, which tells nothing about the credit.
NO_APPROVE_SCOPE = {"junior_agent", "agent"}


@pytest.mark.parametrize(("role", "ownership", "expected"), CASES)
def test_access_matrix(
    role: str,
    ownership: str,
    expected: str,
    client: TestClient,
    session_factory: sessionmaker[Session],
    people: AccessOrg,
) -> None:
    scene = Scene(client, session_factory, people, VIEWER[role])
    reads = scene.credit(ownership)

    answers = {}
    for route in ROUTES:
        # Each write gets a credit of its own, so one write's success does
        # not change what the next one meets.
        made = scene.credit(ownership) if route in WRITES else reads
        answers[route] = scene.call(route, made)

    wanted = dict(zip(ROUTES, expected.split(), strict=True))
    if role in NO_APPROVE_SCOPE:
        wanted |= {"approve": "403", "reject": "403"}
    assert answers == wanted


def test_deciding_without_the_scope_answers_alike_for_any_credit(
    client: TestClient, people: AccessOrg
) -> None:
    headers = people.auth("agent")
    missing = client.post("/api/v1/credits/999999999/approve", headers=headers)

    assert missing.status_code == 403
    assert "scope" in missing.json()["detail"]
