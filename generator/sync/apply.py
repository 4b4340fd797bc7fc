"""Carry out a plan on the PBX, in an order that works: users are made (and
replaced) before anything refers to them, then updated, then deleted.

Within a phase users go in parallel (a bounded number at once); one user's
requests go in order. A user whose request fails is left where it got to,
the others go on, and the failure is kept with the PBX's own words; running
apply again finishes the job, since what was done is no longer in the plan.

A user is made without its references to users this run makes (BLFs and
forward rules naming their extensions: a PBX refuses a reference to an
extension it does not have), and those are set in an update once every user
is made, so references between new users, in any order, converge in one run.

A replace deletes the user before making it again (PortSIP keeps names
unique and cannot rename): it is made again without any reference (those
are set with the new users' ones), and when making it again fails, it is
tried a few times more, and a failure says that the user is gone.

A delete (of a user or a phone) answered 404 is done: the thing is gone,
most likely by an earlier try whose answer was lost. A replace then makes
the user again, once the listing shows no user of its name.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from threading import Event

from generator.compare.plan import Plan
from generator.model import mac_key
from generator.pbx.base import PbxError, Refusing, Target
from generator.sync.plan import PhonePlan, UserPlan

PHASES = (("create", "replace"), ("update",), ("delete",))
REMAKE_BACKOFF = (0.5, 1.0, 2.0)  # seconds before each new try to make a replaced user again


@dataclass
class Failure:
    user: str
    step: str  # what was being done: "create", "phone 0c:38:...: update", "password"...
    status: int | None
    message: str  # the PBX's words, with the request's secrets taken out
    lost: bool = False  # a replace's delete went through and the user was not made again


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)  # users whose every step went through
    failures: list[Failure] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # users the plan held back: nothing was sent for them
    left: list[str] = field(default_factory=list)  # users not started: apply was told to stop (a signal)
    unlinked: list[str] = field(default_factory=list)  # users made whose references were not set (told to stop)
    refusing: str = ""  # why apply stopped by itself: the PBX kept refusing (then `left` holds who was not started)


def _points_at(item: object, key: str, pending: set[str]) -> bool:
    return isinstance(item, dict) and str(item.get(key)) in pending


class _Every:
    """Every extension: what a replaced user is made without (set once it is made)."""

    def __contains__(self, item: object) -> bool:
        return True


def gone(exc: PbxError) -> bool:
    """A delete answered 404: the thing is not there (an earlier try whose
    answer was lost went through), so the delete is done."""
    return exc.status == 404


def split_references(body: dict, pending: Container[str]) -> tuple[dict, list[str]]:
    """A create body without what names an extension in `pending` (users not
    on the PBX yet), and the keys left out, to be set once they are."""
    out, later = dict(body), []
    for key, value in body.items():
        if key == "blfs" and isinstance(value, list) and any(_points_at(b, "value", pending) for b in value):
            out[key] = [b for b in value if not _points_at(b, "value", pending)]
        elif key == "custom_forward_rules" and isinstance(value, list) \
                and any(_points_at(r, "number", pending) for r in value):
            out[key] = [r for r in value if not _points_at(r, "number", pending)]
        elif key.endswith("_forward_rule") and _points_at(value, "number", pending):
            del out[key]
        else:
            continue
        later.append(key)
    return out, later


class _Run:
    def __init__(self, target: Target, wanted: dict[str, dict], pending: set[str]):
        self.target, self.wanted, self.pending = target, wanted, pending
        self.made: dict[str, tuple[str, list[str]]] = {}  # user -> (id, keys to set once every user is made)

    def user(self, plan: UserPlan) -> None:
        {"create": self.create, "replace": self.replace, "update": self.update, "delete": self.delete}[plan.kind](plan)

    def _body(self, plan: UserPlan) -> tuple[dict, list[str]]:
        # A replaced user is made without any reference: one the PBX refuses would
        # otherwise leave the user deleted and not made again.
        pending = _Every() if plan.kind == "replace" else self.pending - {plan.extension}
        return split_references(self.target.user_body(self.wanted[plan.name]), pending)

    def _make(self, plan: UserPlan) -> str:
        body, later = self._body(plan)
        user_id = self.target.create_user(plan.name, body)
        self.made[plan.name] = (user_id, later)
        return user_id

    def _phones(self, plan: UserPlan, user_id: str) -> None:
        for phone in self.wanted[plan.name].get("phones") or []:
            self._step(plan.name, f"phone {mac_key(str(phone.get('mac', '')))}: create",
                       lambda phone=phone: self.target.create_phone(plan.name, user_id,
                                                                    self.target.phone_body(phone)))

    def create(self, plan: UserPlan) -> None:
        self._phones(plan, self._make(plan))

    def replace(self, plan: UserPlan) -> None:
        step = "replace: delete (the user is still on the PBX)"
        try:
            self.target.delete_user(plan.name, plan.id)
        except PbxError as exc:
            if not gone(exc):
                raise StepFailed(Failure(plan.name, step, exc.status, exc.message)) from exc
            if self._listed(plan) is not False:  # 404, yet the name is listed (or the listing failed)
                raise StepFailed(Failure(plan.name, step, exc.status, exc.message)) from exc
        self._phones(plan, self._remake(plan))

    def _listed(self, plan: UserPlan) -> bool | None:
        """Whether the PBX lists a user of this name; None if it cannot be read."""
        try:
            return any(i.get("name") == plan.name for i in self.target.list_users())
        except PbxError:
            return None

    def _remake(self, plan: UserPlan) -> str:
        """Make a just-deleted user again, trying a few times: until this
        succeeds the user is missing from the PBX."""
        for attempt, wait in enumerate((*REMAKE_BACKOFF, None)):
            try:
                return self._make(plan)
            except PbxError as exc:
                found = self._find(plan) if exc.status in (None, 409) else None
                if found is not None:
                    return found  # the answer was lost, or an earlier try went through after all
                if wait is None:
                    raise StepFailed(Failure(plan.name, f"replace: make the user again after its delete "
                                             f"({attempt + 1} tries)", exc.status, exc.message, lost=True)) from exc
                self.target.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _find(self, plan: UserPlan) -> str | None:
        """The user's id if the PBX has it: one listing, only when a remake failed as if it had happened."""
        try:
            listed = self.target.list_users()
        except PbxError:
            return None
        item = next((i for i in listed if i.get("name") == plan.name), None)
        if item is None or not isinstance(item.get("id"), str):
            return None
        user_id = item["id"]
        self.made[plan.name] = (user_id, self._body(plan)[1])
        return user_id

    def later(self, order: list[UserPlan]) -> list[str]:
        """Users made this run with references left to set, in plan order."""
        return [u.name for u in order if self.made.get(u.name, ("", []))[1]]

    def link(self, name: str) -> None:
        """Set what a user was made without, now that every user is made."""
        user_id, keys = self.made[name]
        body = self.target.user_body(self.wanted[name])
        self._step(name, f"references set once every user was made ({', '.join(keys)})",
                   lambda: self.target.update_user(name, user_id, {k: body[k] for k in keys
                                                                   if k in self.target.updatable("user")}))

    def delete(self, plan: UserPlan) -> None:
        try:
            self.target.delete_user(plan.name, plan.id)
        except PbxError as exc:
            if not gone(exc):
                raise

    def update(self, plan: UserPlan) -> None:
        user_id = plan.id  # as the PBX gave it: the target checks it before it goes into a request
        fields = self.wanted[plan.name]
        body = self.target.user_body(fields)
        top = {c.field.split(".", 1)[0].split("[", 1)[0] for c in plan.changes}
        plain = {k: body[k] for k in top & self.target.updatable("user") if k in body}
        if plain:
            self.target.update_user(plan.name, user_id, plain)
        for key in self.target.separate:
            if key in top and key in body:
                self.target.set_field(plan.name, user_id, key, body[key])
        for phone in plan.phones:
            self._step(plan.name, f"phone {phone.mac}: {phone.kind}",
                       lambda phone=phone: self.phone(plan.name, user_id, phone, fields))

    def phone(self, name: str, user_id: str, plan: PhonePlan, fields: dict) -> None:
        wanted = next((p for p in fields.get("phones") or [] if mac_key(str(p.get("mac", ""))) == plan.mac), None)
        if plan.kind in ("delete", "replace"):
            try:
                self.target.delete_phone(name, user_id, plan.id)
            except PbxError as exc:
                if not gone(exc):
                    raise
        if plan.kind == "create":
            self.target.create_phone(name, user_id, self.target.phone_body(wanted))
        if plan.kind == "replace":
            try:
                self.target.create_phone(name, user_id, self.target.phone_body(wanted))
            except PbxError as exc:  # deleted, not made again: say so in words
                exc.message = f"the phone was deleted and is NOT on the PBX now; run apply again to make it " \
                              f"({exc.message})"
                raise
        if plan.kind == "update":
            body = self.target.phone_body(wanted)
            in_place = self.target.updatable("phone")
            self.target.update_phone(name, user_id, plan.id, {k: v for k, v in body.items() if k in in_place})

    def _step(self, user: str, step: str, action: Callable[[], object]) -> None:
        try:
            action()
        except PbxError as exc:
            raise StepFailed(Failure(user, step, exc.status, exc.message)) from exc


def _refusing(exc: BaseException | None, outcome: Outcome, refused: Event) -> None:
    if isinstance(exc, Refusing):
        outcome.refusing = outcome.refusing or exc.message
        refused.set()


class StepFailed(Exception):
    def __init__(self, failure: Failure):
        self.failure = failure


def apply(plan: Plan, target: Target, wanted: dict[str, dict], parallel: int = 4,
          tick: Callable[[int, int], None] | None = None, stop: Event | None = None) -> Outcome:
    """Every user of `plan` on the PBX but those it holds back; failures kept,
    never raised. Once `stop` is set (a signal), no user is started: those in
    flight finish (a replace is never cut between its delete and its create),
    the rest are kept as left."""
    acting = [u for u in plan.users if not u.held]
    pending = {u.extension for u in acting if u.kind in ("create", "replace")}
    run, outcome, done = _Run(target, wanted, pending), Outcome(held=[u.name for u in plan.held]), 0
    refused = Event()  # the PBX kept refusing: stop as on a signal

    def one(task: tuple[str, str, Callable[[], None]]) -> Failure | None | bool:
        name, kind, action = task
        if refused.is_set() or (stop is not None and stop.is_set()):
            return False  # not started
        try:
            action()
        except StepFailed as exc:
            _refusing(exc.__cause__, outcome, refused)
            return exc.failure
        except PbxError as exc:
            _refusing(exc, outcome, refused)
            return Failure(name, kind, exc.status, exc.message)
        return None

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for kinds in PHASES:
            tasks = [(u.name, u.kind, lambda u=u: run.user(u)) for u in acting if u.kind in kinds]
            if kinds == ("update",):  # every user is made: set the references they were made without
                tasks = [(name, "references", lambda name=name: run.link(name)) for name in run.later(acting)] + tasks
            for (name, kind, _), failure in zip(tasks, pool.map(one, tasks)):
                if failure is False:
                    (outcome.unlinked if kind == "references" else outcome.left).append(name)
                    continue
                if kind != "references":
                    done += 1
                    if tick:
                        tick(done, len(acting))
                if failure is not None:
                    outcome.failures.append(failure)
    failed = {f.user for f in outcome.failures} | set(outcome.left) | set(outcome.unlinked)
    outcome.done = [u.name for u in acting if u.name not in failed]
    return outcome
