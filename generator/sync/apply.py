"""Carry out a plan on the PBX, in an order that works: users are made (and
replaced) before anything refers to them, then updated, then deleted.

Within a phase users go in parallel (a bounded number at once); one user's
requests go in order. A user whose request fails is left where it got to,
the others go on, and the failure is kept with the PBX's own words; running
apply again finishes the job, since what was done is no longer in the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from generator.model import mac_key
from generator.sync.api import SEPARATE, phone_body, schemas, shape, updatable, user_body
from generator.sync.client import Client, PbxError, checked_id
from generator.sync.plan import PhonePlan, Plan, UserPlan

PHASES = (("create", "replace"), ("update",), ("delete",))


@dataclass
class Failure:
    user: str
    step: str  # what was being done: "create", "phone 0c:38:...: update", "password"...
    status: int | None
    message: str  # the PBX's words, with the request's secrets taken out


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)  # users whose every step went through
    failures: list[Failure] = field(default_factory=list)


class _Run:
    def __init__(self, client: Client, wanted: dict[str, dict]):
        self.client, self.wanted = client, wanted

    def user(self, plan: UserPlan) -> None:
        {"create": self.create, "replace": self.replace, "update": self.update, "delete": self.delete}[plan.kind](plan)

    def create(self, plan: UserPlan) -> None:
        fields = self.wanted[plan.name]
        answer = self.client.call("POST", "/users", user_body(fields), plan.name)
        user_id = checked_id(answer.get("id") if isinstance(answer, dict) else None)
        for phone in fields.get("phones") or []:
            self._step(plan.name, f"phone {mac_key(str(phone.get('mac', '')))}: create",
                       lambda phone=phone: self.client.call("POST", f"/users/{user_id}/phones", phone_body(phone),
                                                            plan.name))

    def replace(self, plan: UserPlan) -> None:
        self.delete(plan)
        self.create(plan)

    def delete(self, plan: UserPlan) -> None:
        self.client.call("POST", f"/users/{checked_id(plan.id)}/destroy", None, plan.name)

    def update(self, plan: UserPlan) -> None:
        user_id = checked_id(plan.id)
        fields = self.wanted[plan.name]
        body = user_body(fields)
        top = {c.field.split(".", 1)[0].split("[", 1)[0] for c in plan.changes}
        plain = {k: body[k] for k in top & updatable("user") if k in body}
        if plain:
            self.client.call("POST", f"/users/{user_id}", shape(plain, schemas()["update_user"]), plan.name)
        for name, endpoint in SEPARATE.items():
            if name in top and name in body:
                key = "role" if name == "role" else "password"
                self.client.call("POST", f"/users/{user_id}/{endpoint}", {key: body[name]}, plan.name)
        for phone in plan.phones:
            self._step(plan.name, f"phone {phone.mac}: {phone.kind}",
                       lambda phone=phone: self.phone(user_id, phone, fields))

    def phone(self, user_id: str, plan: PhonePlan, fields: dict) -> None:
        wanted = next((p for p in fields.get("phones") or [] if mac_key(str(p.get("mac", ""))) == plan.mac), None)
        if plan.kind in ("delete", "replace"):
            self.client.call("POST", f"/users/{user_id}/phones/{checked_id(plan.id)}/destroy", None)
        if plan.kind in ("create", "replace"):
            self.client.call("POST", f"/users/{user_id}/phones", phone_body(wanted))
        if plan.kind == "update":
            body = shape(phone_body(wanted), schemas()["update_phone"])
            self.client.call("POST", f"/users/{user_id}/phones/{checked_id(plan.id)}", body)

    def _step(self, user: str, step: str, action: Callable[[], object]) -> None:
        try:
            action()
        except PbxError as exc:
            raise StepFailed(Failure(user, step, exc.status, exc.message)) from exc


class StepFailed(Exception):
    def __init__(self, failure: Failure):
        self.failure = failure


def apply(plan: Plan, client: Client, wanted: dict[str, dict], parallel: int = 4,
          tick: Callable[[int, int], None] | None = None) -> Outcome:
    """Every user of `plan` on the PBX; failures kept, never raised."""
    run, outcome, done = _Run(client, wanted), Outcome(), 0

    def one(user: UserPlan) -> Failure | None:
        try:
            run.user(user)
        except StepFailed as exc:
            return exc.failure
        except PbxError as exc:
            return Failure(user.name, user.kind, exc.status, exc.message)
        return None

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for kinds in PHASES:
            users = [u for u in plan.users if u.kind in kinds]
            for user, failure in zip(users, pool.map(one, users)):
                done += 1
                if tick:
                    tick(done, len(plan.users))
                if failure is None:
                    outcome.done.append(user.name)
                else:
                    outcome.failures.append(failure)
    return outcome
