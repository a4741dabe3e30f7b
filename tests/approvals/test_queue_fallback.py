"""A queue with nobody able to decide: one item, open to whoever joins it.

Its own module (and so its own database), because the team-lead queue here
must hold only the people this module makes.
"""

from creditdesk.users.models import Role
from tests.approvals.support import World

TEAM_LEAD_AMOUNT = "950.00"


def test_an_empty_queue_gets_one_item_open_to_the_role(world: World) -> None:
    requester = world.person(Role.MANAGER, team=world.team())
    reporting = world.person(Role.TEAM_LEAD, manager=requester)
    credit = world.raise_credit(requester, TEAM_LEAD_AMOUNT)

    [item] = world.open_items(credit["id"])
    assert (item.assignee_id, item.queue_role) == (None, "team_lead")

    # The only team lead reports to the requester: they see the work, but the
    # duties keep them from taking it.
    queue = world.get("/work-items", reporting, assigned="queue").json()["items"]
    assert [row["work_item"]["id"] for row in queue] == [item.id]
    refused = world.post(f"/work-items/{item.id}/claim", reporting)
    assert refused.status_code == 403
    assert refused.json()["rule"] == "reports_to_requester"
    decided = world.post(f"/credits/{credit['id']}/approve", reporting)
    assert (decided.status_code, decided.json()["rule"]) == (
        403,
        "reports_to_requester",
    )

    newcomer = world.person(Role.TEAM_LEAD)
    claimed = world.post(f"/work-items/{item.id}/claim", newcomer)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["work_item"]["assignee_id"] == newcomer.id
    mine = world.get("/work-items", newcomer, assigned="me").json()["items"]
    assert [row["work_item"]["id"] for row in mine] == [item.id]

    approved = world.post(f"/credits/{credit['id']}/approve", newcomer)
    assert approved.json()["status"] == "approved"
