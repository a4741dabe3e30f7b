"""Every event's templates render with every key they use, and only those."""

from datetime import UTC, datetime, timedelta, timezone

import jinja2
import pytest

from creditdesk.notifications.service import NotificationEvent, absolute_url, render

BASE_URL = "https://creditdesk.example.test/"


def full_context(**overrides: object) -> dict[str, object]:
    context: dict[str, object] = {
        "recipient_name": "Ada Lovelace",
        "credit_number": "BC-000012",
        "case_number": "CS-000034",
        "case_subject": "Double charge in March",
        "item_kind": "approval",
        "due_at": datetime(2001, 5, 6, 17, 30, tzinfo=UTC),
        "actor_name": "Grace Hopper",
        "decision": "approved",
        "comment": "Customer was billed twice.",
        "amount": "GBP 35.00",
        "link": "/credits/BC-000012",
    }
    context.update(overrides)
    return context


@pytest.mark.parametrize("event", list(NotificationEvent))
def test_each_event_renders_its_context(event: NotificationEvent) -> None:
    email = render(event, full_context(), base_url=BASE_URL)

    assert email.subject.startswith("[creditdesk] ")
    assert "BC-000012" in email.subject
    assert "\n" not in email.subject
    for text in (
        "Hello Ada Lovelace,",
        "CS-000034 - Double charge in March",
        "approval",
        "GBP 35.00",
        "2001-05-06 17:30 UTC",
        "Customer was billed twice.",
        "https://creditdesk.example.test/credits/BC-000012",
    ):
        assert text in email.body


@pytest.mark.parametrize("event", list(NotificationEvent))
def test_a_hidden_amount_is_left_out_entirely(event: NotificationEvent) -> None:
    email = render(event, full_context(amount=None), base_url=BASE_URL)

    assert "Amount" not in email.body
    assert "GBP" not in email.body
    assert "35.00" not in email.body
    assert "GBP" not in email.subject


@pytest.mark.parametrize("event", list(NotificationEvent))
def test_optional_values_may_be_none(event: NotificationEvent) -> None:
    context = full_context(due_at=None, actor_name=None, comment=None, amount=None)
    email = render(event, context, base_url=BASE_URL)

    assert "Due" not in email.body
    assert "Comment" not in email.body
    assert "None" not in email.body
    assert "None" not in email.subject


@pytest.mark.parametrize("event", list(NotificationEvent))
def test_a_missing_key_fails_loudly(event: NotificationEvent) -> None:
    context = full_context()
    del context["credit_number"]

    with pytest.raises(jinja2.UndefinedError):
        render(event, context, base_url=BASE_URL)


def test_the_decision_is_required_for_decided() -> None:
    context = full_context()
    del context["decision"]

    with pytest.raises(jinja2.UndefinedError):
        render(NotificationEvent.DECIDED, context, base_url=BASE_URL)


def test_the_decision_is_stated() -> None:
    email = render(
        NotificationEvent.DECIDED, full_context(decision="rejected"), base_url=BASE_URL
    )

    assert "(rejected)" in email.subject
    assert "was rejected by Grace Hopper." in email.body


def test_a_due_time_is_shown_in_utc() -> None:
    berlin_summer = timezone(timedelta(hours=2))
    due_at = datetime(2001, 5, 6, 19, 30, tzinfo=berlin_summer)

    email = render(
        NotificationEvent.REMINDER, full_context(due_at=due_at), base_url=BASE_URL
    )

    assert "is due 2001-05-06 17:30 UTC" in email.subject
    assert "Due:       2001-05-06 17:30 UTC" in email.body


def test_a_naive_due_time_is_refused() -> None:
    naive = datetime(2001, 5, 6, 17, 30)  # noqa: DTZ001

    with pytest.raises(ValueError, match="aware"):
        render(NotificationEvent.REMINDER, full_context(due_at=naive), base_url="/")


def test_a_line_break_in_the_case_subject_stays_out_of_the_header() -> None:
    context = full_context(case_subject="Two\nlines", item_kind="more\r\ninformation")

    email = render(NotificationEvent.ASSIGNED, context, base_url=BASE_URL)

    assert email.subject == (
        "[creditdesk] Assigned to you: more information for BC-000012"
    )


def test_text_is_not_html_escaped() -> None:
    context = full_context(case_subject="Fees & <charges>")

    email = render(NotificationEvent.ASSIGNED, context, base_url=BASE_URL)

    assert "Fees & <charges>" in email.body


@pytest.mark.parametrize(
    ("base", "link", "expected"),
    [
        (
            "http://127.0.0.1:8000",
            "/credits/BC-1",
            "http://127.0.0.1:8000/credits/BC-1",
        ),
        ("https://h.test/desk/", "/credits/BC-1", "https://h.test/desk/credits/BC-1"),
        ("https://h.test", "credits/BC-1", "https://h.test/credits/BC-1"),
        ("https://h.test", "https://other.test/x", "https://other.test/x"),
    ],
)
def test_absolute_url(base: str, link: str, expected: str) -> None:
    assert absolute_url(base, link) == expected
