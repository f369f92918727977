// Stagewright's JavaScript SDK: write a robot action as a plain object, build it with jco's
// QuickJS backend (`stagewright plugin build` runs it).
//
// An action describes itself (its manifest: id, name, version, description, the JSON Schemas
// of its config and return values, and the capabilities it needs) and runs once per robot run:
//
//     import { action, Capability, InvalidConfig } from "stagewright";
//
//     export const { describe, run } = action({
//       manifest: {
//         id: "follow-up", name: "Follow up", version: "0.1.0",
//         description: "Comments on the item.",
//         configSchema: { type: "object", properties: { text: { type: "string" } } },
//         capabilities: [Capability.write("deal")],
//       },
//       run(ctx, config) {
//         const commentId = ctx.addComment(config.text);
//         ctx.log("info", `commented ${commentId}`);
//         return { comment_id: commentId };
//       },
//     });
//
// The SDK speaks version 0.1.5 of the `stagewright:action` contract; hosts serving any later
// 0.1.x load what it builds. Numbers cross the contract as JavaScript numbers (ids up to 2^53).
//
// Errors: throw `InvalidConfig` (an admin must fix the robot), `Transient` (the host retries the
// run later) or `Failed` (failed for good). A CRM, notify or email call the host refuses throws
// `Failed` with the host's reason, as in the Rust SDK. Any other exception fails the run for
// good with its message and stack, so a bug reads as a bug in the run record.

import * as booking from "stagewright:action/booking@0.1.5";
import * as crm from "stagewright:action/crm@0.1.5";
import * as directory from "stagewright:action/directory@0.1.5";
import * as email from "stagewright:action/email@0.1.5";
import * as feed from "stagewright:action/feed@0.1.5";
import * as flow from "stagewright:action/flow@0.1.5";
import * as log from "stagewright:action/log@0.1.5";
import * as notify from "stagewright:action/notify@0.1.5";
import * as sms from "stagewright:action/sms@0.1.5";

/** The SDK's own version, which is the contract version it is built against. */
export const VERSION = "0.1.5";
/** The contract this SDK builds against. */
export const CONTRACT = "stagewright:action@0.1.5";

/** Why a run did not succeed. */
export class ActionError extends Error {}

/** The robot's configuration cannot be used; an admin must fix it. */
export class InvalidConfig extends ActionError {}

/** Worth another attempt later: the host retries the run. */
export class Transient extends ActionError {}

/** Failed for good. */
export class Failed extends ActionError {}

/** The capabilities a manifest can ask for; the host refuses every call outside them. */
export const Capability = {
  /** Read items of an entity type ("deal", "lead", "dynamic_1032", "dynamic_*"), "task" or "user". */
  read: (target) => ({ tag: "read", val: target }),
  /** Create, change, move or delete items of an entity type (implies read); "task"; "exceptions". */
  write: (target) => ({ tag: "write", val: target }),
  /** Queue email. */
  email: () => ({ tag: "email" }),
  /** Notify users. */
  notify: () => ({ tag: "notify" }),
  /** Outbound HTTP to a host ("api.example.com", "*.example.com" or "*"). */
  http: (host) => ({ tag: "http", val: host }),
};

/** How a refusal of each interface reads, in the Rust SDK's words. */
const REFUSALS = {
  crm: { denied: (what) => `denied: ${what}`, invalid: (why) => `invalid CRM call: ${why}` },
  notify: { denied: () => "denied: notify", invalid: (why) => `notification refused: ${why}` },
  email: { denied: () => "denied: email", invalid: (why) => `email refused: ${why}` },
  sms: { denied: (what) => `denied: ${what}`, invalid: (why) => `text message refused: ${why}` },
  feed: { denied: (what) => `denied: ${what}`, invalid: (why) => `post refused: ${why}` },
  booking: { denied: (what) => `denied: ${what}`, taken: (why) => `not booked: ${why}`, invalid: (why) => `booking refused: ${why}` },
};

/** Calls a host function of `iface` ("crm", "notify", "email"), turning a refusal into `Failed`. */
function call(iface, fn, ...args) {
  try {
    return fn(...args);
  } catch (error) {
    if (!error || !error.payload) throw error;
    const { tag, val } = error.payload;
    if (tag === "not-found") throw new Failed(`${val.entityType} ${val.id} not found`);
    const words = REFUSALS[iface][tag];
    throw new Failed(words ? words(val) : `refused: ${JSON.stringify(error.payload)}`);
  }
}

/**
 * A positive id from a config value that is a number or, after templates resolved, its text
 * ("7"); `what` names the setting in the error an admin reads.
 */
export function idFrom(value, what) {
  const id = typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (Number.isSafeInteger(id) && id > 0) return id;
  throw new InvalidConfig(`${what} must be a positive id, not ${JSON.stringify(value)}`);
}

/**
 * The item's short CRM reference as task bindings (`UF_CRM_TASK`) take it: `L_1`, `D_12`,
 * `C_3`, `CO_4`, and `T80_5` for item 5 of smart process 128 (its entityTypeId in hex).
 */
export function crmBinding(ref) {
  const prefixes = { lead: "L", deal: "D", contact: "C", company: "CO" };
  const spa = /^dynamic_(\d+)$/.exec(ref.entityType);
  const prefix = prefixes[ref.entityType] ?? (spa ? `T${Number(spa[1]).toString(16)}` : ref.entityType);
  return `${prefix}_${ref.id}`;
}

/** A CRM item as the host gives it, with its fields parsed. */
function itemOf(item) {
  return {
    ref: item.ref,
    categoryId: item.categoryId ?? null,
    stageId: item.stageId ?? null,
    fields: JSON.parse(item.fields),
  };
}

/** One run: the item, the run's facts, and the host's CRM, directory, notify, email and log. */
export class Context {
  constructor(invocation) {
    this.invocation = invocation;
    /** The item this run is for: `{ ref: { entityType, id }, categoryId, stageId, fields }`. */
    this.item = itemOf(invocation.item);
    /** Return values of earlier robots of the same stage run, keyed by robot id. */
    this.previous = JSON.parse(invocation.previous || "{}");
  }

  /** This run's id; also the idempotency key for outside effects. */
  get runId() {
    return this.invocation.runId;
  }

  /** The robot (automation rule) being run. */
  get ruleId() {
    return this.invocation.ruleId;
  }

  /** 1 for the first attempt, counting up on retries. */
  get attempt() {
    return this.invocation.attempt;
  }

  /** The scheduler's clock, in milliseconds since the epoch. */
  get nowMs() {
    return this.invocation.nowMs;
  }

  /** A field of the run's item by its Bitrix24 name ("TITLE"), or `fallback` when absent. */
  field(name, fallback = null) {
    return this.item.fields[name] ?? fallback;
  }

  /** Reads an item (this run's own staged writes included). */
  get(ref) {
    return itemOf(call("crm", crm.get, ref));
  }

  /** Items matching a Bitrix24 filter: `{ filter, order, select, limit }`, all optional. */
  list(entityType, { filter = {}, order = {}, select = [], limit = 50 } = {}) {
    const found = call(
      "crm",
      crm.list,
      entityType,
      JSON.stringify(filter),
      JSON.stringify(order),
      JSON.stringify(select),
      limit,
    );
    return found.map(itemOf);
  }

  /** The first item (lowest id) matching a filter, or null. */
  first(entityType, filter = {}) {
    return this.list(entityType, { filter, order: { ID: "ASC" }, limit: 1 })[0] ?? null;
  }

  /** Creates an item from its fields; answers its reference. */
  create(entityType, fields) {
    return call("crm", crm.create, entityType, JSON.stringify(fields));
  }

  /** Changes fields of an item (the run's item by default). */
  update(fields, ref = this.item.ref) {
    call("crm", crm.update, ref, JSON.stringify(fields));
  }

  /** Deletes an item. */
  delete(ref) {
    call("crm", crm.delete, ref);
  }

  /** Moves an item (the run's item by default) to a stage of its pipeline. */
  moveToStage(stageId, ref = this.item.ref) {
    call("crm", crm.moveToStage, ref, stageId);
  }

  /** Adds a timeline comment to an item (the run's item by default); answers its id. */
  addComment(text, ref = this.item.ref) {
    return call("crm", crm.addComment, ref, text);
  }

  /** Schedules a timeline activity (crm.activity.add's fields); answers its id. */
  addActivity(activity, ref = this.item.ref) {
    return call("crm", crm.addActivity, ref, JSON.stringify(activity));
  }

  /** Creates an employee's task (tasks.task.add's fields); answers its id. */
  createTask(task) {
    return call("crm", crm.createTask, JSON.stringify(task));
  }

  /** Puts the item's phones and emails on the repeat-lead exception list; answers how many. */
  addToExceptions(comment = "", ref = this.item.ref) {
    return call("crm", crm.addToExceptions, ref, comment);
  }

  /** Completes the item's open tasks, or only those robot `robotId` created; answers how many (since 0.1.5). */
  completeTasks(robotId = null, ref = this.item.ref) {
    return call("crm", crm.completeTasks, ref, robotId ?? undefined);
  }

  /** Which of the users are away now, by the absence calendar. */
  absent(users) {
    return call("crm", directory.absent, users);
  }

  /** The next of `users` in this robot's turn, passing over `skipping`; null when none is left. */
  nextInTurn(users, skipping = []) {
    return call("crm", directory.nextInTurn, users, skipping) ?? null;
  }

  /** Notifies a user; answers `[notificationId, userId]`. */
  notifyUser(userId, message) {
    return call("notify", notify.send, { tag: "user", val: userId }, message);
  }

  /** Notifies a user's supervisor; answers `[notificationId, supervisorId]`. */
  notifySupervisorOf(userId, message) {
    return call("notify", notify.send, { tag: "supervisor-of", val: userId }, message);
  }

  /** Books a resource for `minutes` from `start` (ISO 8601); answers the booking's id (since 0.1.5). */
  book(resource, start, minutes, { title = "", user = null, about = null } = {}) {
    return call("booking", booking.book, resource, start, minutes, user ?? undefined, title, about ?? undefined);
  }

  /** Cancels a booking; answers whether it was still booked (since 0.1.5). */
  cancelBooking(id) {
    return call("booking", booking.cancel, id);
  }

  /** Publishes an Activity Stream post from `author`, about `about` when given; answers its id (since 0.1.5). */
  postToFeed(author, text, title = "", about = null) {
    return call("feed", feed.post, author, title, text, about ?? undefined);
  }

  /** Queues a text message to a phone number, or to a user id's mobile number; answers its outbox id (since 0.1.5). */
  sendSms(to, text) {
    const recipient = typeof to === "number" ? { tag: "user", val: to } : { tag: "phone", val: to };
    return call("sms", sms.send, recipient, text);
  }

  /**
   * Queues an email: `{ to, subject, text, html }`, where each of `to` is an address or a
   * user id. Answers its outbox id.
   */
  sendEmail({ to, subject, text, html = null }) {
    const recipients = to.map((r) =>
      typeof r === "number" ? { tag: "user", val: r } : { tag: "address", val: r },
    );
    return call("email", email.queue, { to: recipients, subject, text, html });
  }

  /**
   * Parks the chain when this run succeeds: the robots after it wait until one of `wakeOn`
   * ("activity", "comment", "task", "change") happens or the clock reaches `untilMs`.
   */
  wait(untilMs, wakeOn = []) {
    flow.wait(untilMs, wakeOn);
  }

  /** Writes a line to the run's log: "debug", "info", "warn" or "error". */
  log(level, message) {
    log.write(level, String(message));
  }
}

/** The contract's error for what `run` threw. */
function actionErrorOf(error) {
  if (error instanceof InvalidConfig) return { tag: "invalid-config", val: error.message };
  if (error instanceof Transient) return { tag: "transient", val: error.message };
  if (error instanceof Failed) return { tag: "failed", val: error.message };
  const where = error && error.stack ? `\n${error.stack}` : "";
  return { tag: "failed", val: `${error}${where}` };
}

/**
 * The contract's exports for an action: `export const { describe, run } = action({ manifest, run })`.
 * `run(ctx, config)` answers an object of return values (or nothing).
 */
export function action({ manifest, run }) {
  const described = {
    id: manifest.id,
    name: manifest.name,
    version: manifest.version,
    description: manifest.description,
    configSchema: JSON.stringify(manifest.configSchema ?? { type: "object" }),
    returnsSchema: JSON.stringify(manifest.returnsSchema ?? { type: "object" }),
    capabilities: manifest.capabilities ?? [],
  };
  return {
    describe: () => described,
    run(invocation) {
      let config;
      try {
        config = JSON.parse(invocation.config);
      } catch (error) {
        throw { tag: "invalid-config", val: `config is not JSON: ${error.message}` };
      }
      try {
        return JSON.stringify(run(new Context(invocation), config) ?? {});
      } catch (error) {
        throw actionErrorOf(error);
      }
    },
  };
}
