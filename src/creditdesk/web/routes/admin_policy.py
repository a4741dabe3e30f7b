"""Policy versions on pages: the list, one version's YAML, and editing.

Checking an edit validates it exactly as applying would (the schema, then
the users its chains name) and saves nothing; saving applies it through
``policy.service.apply_policy`` like ``creditdesk policy apply``, so the new
version is in force at once: the service keeps no saved-but-inactive drafts.
"""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from creditdesk.api.deps import DbSession, Now, ReadSession
from creditdesk.errors import (
    Conflict,
    DomainError,
    FieldIssue,
    NotFound,
    ValidationFailed,
)
from creditdesk.policy import service
from creditdesk.policy.models import PolicyVersion
from creditdesk.web import policy_review
from creditdesk.web.deps import Form, WebActor
from creditdesk.web.render import flash, secure
from creditdesk.web.routes.admin import AdminUser, render_admin

router = APIRouter(include_in_schema=False)

# TODO(policy-drafts): an edit cannot be saved for later or reviewed by a
# second admin before it takes effect, since every stored version is in
# force once it is the newest; a draft status on policy_versions (with
# active_policy reading the newest active one) would let "Save" and
# "Activate" be two steps.


@router.get("/admin/policy")
def policy_versions(
    request: Request, session: ReadSession, user: AdminUser
) -> Response:
    """Every policy version, newest (the one in force) first."""
    versions = service.list_versions(session)
    return render_admin(request, "admin/policy_list.html", versions=versions)


@router.get("/admin/policy/edit")
def edit_form(
    request: Request, session: DbSession, user: AdminUser, actor: WebActor, now: Now
) -> Response:
    """The YAML of the version in force, ready to edit."""
    current = _in_force(session, actor=actor, now=now)
    return _editor(request, current, text=current.document, comment="")


@router.post("/admin/policy/edit")
def check_or_apply(
    request: Request,
    form: Form,
    session: DbSession,
    user: AdminUser,
    actor: WebActor,
    now: Now,
) -> Response:
    """ "Check" validates the edit and shows its diff, saving nothing; "Save
    and activate" puts it in force as the next version (audited)."""
    text = form.get("document", "").replace("\r\n", "\n")
    comment = form.get("comment", "").strip()
    current = _in_force(session, actor=actor, now=now)
    if form.get("action") != "apply":
        return _check(request, session, current, text, comment)

    try:
        _refuse_to_save(form.get("base_version", ""), current, text)
        row = service.apply_policy(
            session, text=text, actor=actor, now=now, comment=comment or None
        )
    except DomainError as exc:
        session.rollback()
        current = _in_force(session, actor=actor, now=now)
        return _editor(
            request, current, text=text, comment=comment, error=exc, checked=True
        )
    response = secure(RedirectResponse(f"/admin/policy/{row.version}", 303))
    return flash(request, response, f"Policy version {row.version} is now in force.")


@router.get("/admin/policy/{version:int}")
def policy_version(
    version: int, request: Request, session: ReadSession, user: AdminUser
) -> Response:
    """One version's YAML, and what it changed against the version before."""
    row = service.version_row(session, version)
    newest = service.list_versions(session, limit=1)
    previous = _previous(session, version)
    changes = policy_review.diff(previous.document, row.document) if previous else []
    return render_admin(
        request,
        "admin/policy_version.html",
        row=row,
        in_force=bool(newest) and newest[0].version == row.version,
        previous=previous,
        changes=changes,
    )


def _in_force(session: Session, *, actor: WebActor, now: Now) -> PolicyVersion:
    # Installs the shipped default on a database that has no version yet.
    active = service.active_policy(session, now=now, actor=actor)
    return service.version_row(session, active.version)


def _previous(session: Session, version: int) -> PolicyVersion | None:
    try:
        return service.version_row(session, version - 1)
    except NotFound:
        return None


def _check(
    request: Request,
    session: Session,
    current: PolicyVersion,
    text: str,
    comment: str,
) -> Response:
    try:
        _refuse_unchanged(current, text)
        service.check_policy(session, text)
    except ValidationFailed as exc:
        return _editor(
            request, current, text=text, comment=comment, error=exc, checked=True
        )
    return _editor(request, current, text=text, comment=comment, checked=True)


def _refuse_unchanged(current: PolicyVersion, text: str) -> None:
    if text.strip() == current.document.strip():
        raise ValidationFailed.on(
            "document",
            f"this is the policy in force (version {current.version}); "
            "change something first",
        )


def _refuse_to_save(base: str, current: PolicyVersion, text: str) -> None:
    """Refuse an edit that changes nothing, and an edit of a version no
    longer in force (the admin reviewed a diff against it, not against what
    they would replace). The service itself refuses a comment too long."""
    _refuse_unchanged(current, text)
    if base != str(current.version):
        message = (
            f"version {current.version} was put in force since you started "
            "editing; review the changes below against it and save again"
        )
        raise Conflict(message, [FieldIssue("document", message)])


def _editor(
    request: Request,
    current: PolicyVersion,
    *,
    text: str,
    comment: str,
    error: DomainError | None = None,
    checked: bool = False,
) -> Response:
    issues = policy_review.issues_of(error, text) if error else []
    comment_error = next((i.message for i in issues if i.path == "comment"), None)
    status = error.status if error else 200
    return render_admin(
        request,
        "admin/policy_edit.html",
        status_code=status,
        current=current,
        document=text,
        comment=comment,
        issues=[i for i in issues if i.path != "comment"],
        comment_error=comment_error,
        checked=checked,
        valid=checked and error is None,
        changes=policy_review.diff(current.document, text) if checked else [],
    )
