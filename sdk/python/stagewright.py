"""Stagewright's Python SDK: write a robot action as a class, build it with componentize-py.

An action describes itself (its manifest: id, name, version, description, the JSON Schemas of
its config and return values, and the capabilities it needs) and runs once per robot run::

    import stagewright
    from stagewright import Capability, InvalidConfig

    class Plugin(stagewright.Action):
        manifest = stagewright.Manifest(
            id="follow-up", name="Follow up", version="0.1.0",
            description="Comments on the item.",
            config_schema={"type": "object", "properties": {"text": {"type": "string"}}},
            capabilities=[Capability.write("deal")],
        )

        def run(self, ctx, config):
            comment_id = ctx.add_comment(config["text"])
            ctx.log("info", f"commented {comment_id}")
            return {"comment_id": comment_id}

    WitWorld = stagewright.export(Plugin)

`stagewright plugin build` runs componentize-py with the contract's WIT and this module. The
SDK speaks version 0.1.5 of the `stagewright:action` contract; hosts serving any later 0.1.x
load what it builds.

Errors: raise `InvalidConfig` (an admin must fix the robot), `Transient` (the host retries the
run later) or `Failed` (failed for good). A CRM, notify or email call the host refuses raises
`Failed` with the host's reason, as in the Rust SDK. Any other exception fails the run for good
with its traceback, so a bug reads as a bug in the run record.
"""

import json
import traceback
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import wit_world
from componentize_py_types import Err
from wit_world.imports import booking, crm, directory, email, feed, flow, log, notify, sms, types

__version__ = "0.1.5"
CONTRACT = "stagewright:action@0.1.5"


class ActionError(Exception):
    """Why a run did not succeed."""


class InvalidConfig(ActionError):
    """The robot's configuration cannot be used; an admin must fix it."""


class Transient(ActionError):
    """Worth another attempt later: the host retries the run."""


class Failed(ActionError):
    """Failed for good."""


class Capability:
    """The capabilities a manifest can ask for; the host refuses every call outside them."""

    @staticmethod
    def read(target: str):
        """Read items of an entity type ("deal", "lead", "dynamic_1032", "dynamic_*"), "task" or "user"."""
        return types.Capability_Read(target)

    @staticmethod
    def write(target: str):
        """Create, change, move or delete items of an entity type (implies read); "exceptions"."""
        return types.Capability_Write(target)

    @staticmethod
    def email():
        """Queue email."""
        return types.Capability_Email()

    @staticmethod
    def notify():
        """Notify users."""
        return types.Capability_Notify()

    @staticmethod
    def http(host: str):
        """Outbound HTTP to a host ("api.example.com", "*.example.com" or "*")."""
        return types.Capability_Http(host)


@dataclass
class Manifest:
    """What a plugin is and what it needs."""

    id: str
    name: str
    version: str
    description: str
    config_schema: Dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    returns_schema: Dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    capabilities: List[Any] = field(default_factory=list)

    def to_wit(self) -> types.Manifest:
        return types.Manifest(
            id=self.id,
            name=self.name,
            version=self.version,
            description=self.description,
            config_schema=json.dumps(self.config_schema),
            returns_schema=json.dumps(self.returns_schema),
            capabilities=list(self.capabilities),
        )


@dataclass(frozen=True)
class ItemRef:
    """Names one CRM item: its entity type ("deal", "dynamic_1032") and id."""

    entity_type: str
    id: int

    def to_wit(self) -> types.ItemRef:
        return types.ItemRef(entity_type=self.entity_type, id=self.id)


@dataclass
class Item:
    """A CRM item: where it is and its fields, keyed by Bitrix24 name ("TITLE", "UF_CRM_...")."""

    ref: ItemRef
    category_id: Optional[int]
    stage_id: Optional[str]
    fields: Dict[str, Any]

    @staticmethod
    def from_wit(item: types.Item) -> "Item":
        ref = ItemRef(item.ref.entity_type, item.ref.id)
        return Item(ref, item.category_id, item.stage_id, json.loads(item.fields))


def _refused(error: Err) -> Failed:
    """A call the host refused, in the Rust SDK's words."""
    value = error.value
    if isinstance(value, crm.CrmError_NotFound):
        return Failed(f"{value.value.entity_type} {value.value.id} not found")
    if isinstance(value, crm.CrmError_Denied):
        return Failed(f"denied: {value.value}")
    if isinstance(value, crm.CrmError_Invalid):
        return Failed(f"invalid CRM call: {value.value}")
    if isinstance(value, notify.NotifyError_Denied):
        return Failed("denied: notify")
    if isinstance(value, notify.NotifyError_Invalid):
        return Failed(f"notification refused: {value.value}")
    if isinstance(value, email.EmailError_Denied):
        return Failed("denied: email")
    if isinstance(value, email.EmailError_Invalid):
        return Failed(f"email refused: {value.value}")
    if isinstance(value, booking.BookingError_Denied):
        return Failed(f"denied: {value.value}")
    if isinstance(value, booking.BookingError_Taken):
        return Failed(f"not booked: {value.value}")
    if isinstance(value, booking.BookingError_Invalid):
        return Failed(f"booking refused: {value.value}")
    if isinstance(value, feed.FeedError_Denied):
        return Failed(f"denied: {value.value}")
    if isinstance(value, feed.FeedError_Invalid):
        return Failed(f"post refused: {value.value}")
    if isinstance(value, sms.SmsError_Denied):
        return Failed(f"denied: {value.value}")
    if isinstance(value, sms.SmsError_Invalid):
        return Failed(f"text message refused: {value.value}")
    return Failed(f"refused: {getattr(value, 'value', value)}")


def id_from(value: Any, what: str) -> int:
    """A positive id from a config value that is a number or, after templates resolved, its text
    ("7"); `what` names the setting in the error an admin reads."""
    text = value.strip() if isinstance(value, str) else None
    number = int(text) if text is not None and text.isdigit() else value
    if isinstance(number, int) and not isinstance(number, bool) and number > 0:
        return number
    raise InvalidConfig(f"{what} must be a positive id, not {json.dumps(value)}")


def crm_binding(ref: ItemRef) -> str:
    """The item's short CRM reference as task bindings (UF_CRM_TASK) take it: L_1, D_12, C_3,
    CO_4, and T80_5 for item 5 of smart process 128 (its entityTypeId in hex)."""
    prefixes = {"lead": "L", "deal": "D", "contact": "C", "company": "CO"}
    prefix = prefixes.get(ref.entity_type)
    if prefix is None:
        type_id = ref.entity_type.removeprefix("dynamic_")
        prefix = f"T{int(type_id):x}" if type_id.isdigit() else ref.entity_type
    return f"{prefix}_{ref.id}"


def _call(function, *args):
    try:
        return function(*args)
    except Err as error:
        raise _refused(error) from None


_LEVELS = {"debug": log.Level.DEBUG, "info": log.Level.INFO, "warn": log.Level.WARN, "error": log.Level.ERROR}


class Context:
    """One run: the item, the run's facts, and the host's CRM, directory, notify, email and log."""

    def __init__(self, inv: types.Invocation):
        self._inv = inv
        self.item = Item.from_wit(inv.item)
        self.previous: Dict[str, Any] = json.loads(inv.previous or "{}")

    @property
    def run_id(self) -> str:
        """This run's id; also the idempotency key for outside effects."""
        return self._inv.run_id

    @property
    def rule_id(self) -> str:
        """The robot (automation rule) being run."""
        return self._inv.rule_id

    @property
    def attempt(self) -> int:
        """1 for the first attempt, counting up on retries."""
        return self._inv.attempt

    @property
    def now_ms(self) -> int:
        """The host's clock, in milliseconds since the epoch."""
        return self._inv.now_ms

    def field(self, name: str, default: Any = None) -> Any:
        """A field of the run's item."""
        return self.item.fields.get(name, default)

    def get(self, ref: ItemRef) -> Item:
        """Reads an item (this run's own staged writes included)."""
        return Item.from_wit(_call(crm.get, ref.to_wit()))

    def list(self, entity_type: str, filter: Optional[dict] = None, order: Optional[dict] = None,
             select: Optional[list] = None, limit: int = 50) -> List[Item]:
        """Items matching a Bitrix24 filter."""
        found = _call(crm.list, entity_type, json.dumps(filter or {}), json.dumps(order or {}),
                      json.dumps(select or []), limit)
        return [Item.from_wit(item) for item in found]

    def first(self, entity_type: str, filter: Optional[dict] = None) -> Optional[Item]:
        """The first item (lowest id) matching a filter, or None."""
        found = self.list(entity_type, filter, {"ID": "ASC"}, limit=1)
        return found[0] if found else None

    def create(self, entity_type: str, fields: dict) -> ItemRef:
        """Creates an item; answers its reference."""
        ref = _call(crm.create, entity_type, json.dumps(fields))
        return ItemRef(ref.entity_type, ref.id)

    def update(self, fields: dict, ref: Optional[ItemRef] = None) -> None:
        """Changes fields of an item (the run's item by default)."""
        _call(crm.update, (ref or self.item.ref).to_wit(), json.dumps(fields))

    def delete(self, ref: ItemRef) -> None:
        """Deletes an item."""
        _call(crm.delete, ref.to_wit())

    def move_to_stage(self, stage_id: str, ref: Optional[ItemRef] = None) -> None:
        """Moves an item (the run's item by default) to a stage of its pipeline."""
        _call(crm.move_to_stage, (ref or self.item.ref).to_wit(), stage_id)

    def add_comment(self, text: str, ref: Optional[ItemRef] = None) -> int:
        """Adds a timeline comment to an item (the run's item by default); answers its id."""
        return _call(crm.add_comment, (ref or self.item.ref).to_wit(), text)

    def add_activity(self, activity: dict, ref: Optional[ItemRef] = None) -> int:
        """Adds a timeline activity (Bitrix24's fields); answers its id."""
        return _call(crm.add_activity, (ref or self.item.ref).to_wit(), json.dumps(activity))

    def create_task(self, task: dict) -> int:
        """Creates an employee's task (Bitrix24's tasks.task.add fields); answers its id."""
        return _call(crm.create_task, json.dumps(task))

    def add_to_exceptions(self, comment: str = "", ref: Optional[ItemRef] = None) -> int:
        """Puts the item's phones and emails on the repeat-lead exception list; answers how many."""
        return _call(crm.add_to_exceptions, (ref or self.item.ref).to_wit(), comment)

    def complete_tasks(self, robot_id: Optional[str] = None, ref: Optional[ItemRef] = None) -> int:
        """Completes the item's open tasks, or only those robot `robot_id` created; answers how many (since 0.1.5)."""
        return _call(crm.complete_tasks, (ref or self.item.ref).to_wit(), robot_id)

    def absent(self, users: List[int]) -> List[int]:
        """Which of the users are away now, by the absence calendar."""
        return list(_call(directory.absent, users))

    def next_in_turn(self, users: List[int], skipping: Optional[List[int]] = None) -> Optional[int]:
        """The next of `users` in this robot's turn, passing over `skipping`; None when none is left."""
        return _call(directory.next_in_turn, users, skipping or [])

    def notify_user(self, user_id: int, message: str):
        """Notifies a user; answers (notification id, user id)."""
        return _call(notify.send, notify.Recipient_User(user_id), message)

    def notify_supervisor_of(self, user_id: int, message: str):
        """Notifies a user's supervisor; answers (notification id, supervisor's id)."""
        return _call(notify.send, notify.Recipient_SupervisorOf(user_id), message)

    def send_email(self, to: List[Any], subject: str, text: str, html: Optional[str] = None) -> str:
        """Queues an email; each of `to` is an address or a user id. Answers its outbox id."""
        recipients = [email.Recipient_User(r) if isinstance(r, int) else email.Recipient_Address(r) for r in to]
        return _call(email.queue, email.Message(to=recipients, subject=subject, text=text, html=html))

    def book(self, resource: int, start: str, minutes: int, title: str = "", user: Optional[int] = None, about: Optional[ItemRef] = None) -> int:
        """Books a resource for `minutes` from `start` (ISO 8601); answers the booking's id (since 0.1.5)."""
        return _call(booking.book, resource, start, minutes, user, title, about.to_wit() if about else None)

    def cancel_booking(self, booking_id: int) -> bool:
        """Cancels a booking; answers whether it was still booked (since 0.1.5)."""
        return _call(booking.cancel, booking_id)

    def post_to_feed(self, author: int, text: str, title: str = "", about: Optional[ItemRef] = None) -> int:
        """Publishes an Activity Stream post from `author`, about `about` when given; answers its id (since 0.1.5)."""
        return _call(feed.post, author, title, text, about.to_wit() if about else None)

    def send_sms(self, to: Any, text: str) -> str:
        """Queues a text message to a phone number, or to a user id's mobile number; answers its outbox id (since 0.1.5)."""
        recipient = sms.Recipient_User(to) if isinstance(to, int) else sms.Recipient_Phone(to)
        return _call(sms.send, recipient, text)

    def log(self, level: str, message: str) -> None:
        """Writes a line to the run's log: "debug", "info", "warn" or "error"."""
        log.write(_LEVELS.get(level, log.Level.INFO), message)

    def wait(self, until_ms: int, wake_on: Optional[List[str]] = None) -> None:
        """Holds the robots after this one until `until_ms` (ms since the epoch) or until one of
        `wake_on` ("activity", "comment", "task", "change") happens to the item."""
        flow.wait(until_ms, [flow.WakeOn[w.upper()] for w in wake_on or []])


class Action:
    """Subclass this: set `manifest`, write `run(self, ctx, config) -> dict`."""

    manifest: Manifest

    def run(self, ctx: Context, config: Dict[str, Any]) -> Dict[str, Any]:
        raise NotImplementedError


def export(action_class):
    """The `WitWorld` class componentize-py exports, running `action_class`."""

    class Exported(wit_world.WitWorld):
        def describe(self) -> types.Manifest:
            return action_class.manifest.to_wit()

        def run(self, inv: types.Invocation) -> str:
            try:
                config = json.loads(inv.config)
            except ValueError as error:
                raise Err(types.ActionError_InvalidConfig(f"config is not JSON: {error}"))
            try:
                answer = action_class().run(Context(inv), config)
            except InvalidConfig as error:
                raise Err(types.ActionError_InvalidConfig(str(error)))
            except Transient as error:
                raise Err(types.ActionError_Transient(str(error)))
            except Failed as error:
                raise Err(types.ActionError_Failed(str(error)))
            except Exception as error:
                raise Err(types.ActionError_Failed(f"{type(error).__name__}: {error}\n{traceback.format_exc().rstrip()}"))
            return json.dumps(answer if answer is not None else {})

    return Exported
