// Types of Stagewright's JavaScript SDK (stagewright.js), for editors and TypeScript checks.
// Written for jco's QuickJS backend, which passes the contract's u64 as a JavaScript number
// (`jco types` would declare bigint, which that backend does not give).

/** The SDK's version: the `stagewright:action` contract version it builds against. */
export const VERSION: "0.1.5";
export const CONTRACT: "stagewright:action@0.1.5";

/** Why a run did not succeed. */
export class ActionError extends Error {}
/** The robot's configuration cannot be used; an admin must fix it. */
export class InvalidConfig extends ActionError {}
/** Worth another attempt later: the host retries the run. */
export class Transient extends ActionError {}
/** Failed for good. */
export class Failed extends ActionError {}

/** Something a plugin asks to be allowed to do. */
export type Capability =
  | { tag: "read"; val: string }
  | { tag: "write"; val: string }
  | { tag: "email" }
  | { tag: "notify" }
  | { tag: "http"; val: string };

export const Capability: {
  read(target: string): Capability;
  write(target: string): Capability;
  email(): Capability;
  notify(): Capability;
  http(host: string): Capability;
};

/** Names one CRM item: "deal", "lead", "contact", "company" or "dynamic_<entityTypeId>". */
export interface ItemRef {
  entityType: string;
  id: number;
}

/** A CRM item, its fields keyed by Bitrix24 name ("TITLE", "UF_CRM_..."). */
export interface Item {
  ref: ItemRef;
  categoryId: number | null;
  stageId: string | null;
  fields: Record<string, unknown>;
}

/** What a plugin is and what it needs. */
export interface Manifest {
  /** Stable id, lowercase with dashes; robots refer to the plugin by it. */
  id: string;
  name: string;
  /** The plugin's own semver version. */
  version: string;
  description: string;
  /** JSON Schema of the robot configuration. */
  configSchema?: object;
  /** JSON Schema of the return values. */
  returnsSchema?: object;
  capabilities?: Capability[];
}

export type Level = "debug" | "info" | "warn" | "error";
export type WakeOn = "activity" | "comment" | "task" | "change";

/** One run: the item, the run's facts, and the host's CRM, directory, notify, email and log. */
export class Context {
  readonly item: Item;
  readonly previous: Record<string, Record<string, unknown>>;
  readonly runId: string;
  readonly ruleId: string;
  readonly attempt: number;
  readonly nowMs: number;
  field(name: string, fallback?: unknown): unknown;
  get(ref: ItemRef): Item;
  list(
    entityType: string,
    query?: { filter?: object; order?: object; select?: string[]; limit?: number },
  ): Item[];
  first(entityType: string, filter?: object): Item | null;
  create(entityType: string, fields: object): ItemRef;
  update(fields: object, ref?: ItemRef): void;
  delete(ref: ItemRef): void;
  moveToStage(stageId: string, ref?: ItemRef): void;
  addComment(text: string, ref?: ItemRef): number;
  addActivity(activity: object, ref?: ItemRef): number;
  createTask(task: object): number;
  addToExceptions(comment?: string, ref?: ItemRef): number;
  /** Completes the item's open tasks, or only those robot `robotId` created; answers how many (since 0.1.5). */
  completeTasks(robotId?: string | null, ref?: ItemRef): number;
  absent(users: number[]): number[];
  nextInTurn(users: number[], skipping?: number[]): number | null;
  notifyUser(userId: number, message: string): [number, number];
  notifySupervisorOf(userId: number, message: string): [number, number];
  /** Books a resource for `minutes` from `start` (ISO 8601); answers the booking's id (since 0.1.5). */
  book(resource: number, start: string, minutes: number, options?: { title?: string; user?: number | null; about?: ItemRef | null }): number;
  /** Cancels a booking; answers whether it was still booked (since 0.1.5). */
  cancelBooking(id: number): boolean;
  /** Publishes an Activity Stream post from `author`, about `about` when given; answers its id (since 0.1.5). */
  postToFeed(author: number, text: string, title?: string, about?: ItemRef | null): number;
  /** Queues a text message to a phone number, or to a user id's mobile number; answers its outbox id (since 0.1.5). */
  sendSms(to: string | number, text: string): string;
  sendEmail(message: { to: (string | number)[]; subject: string; text: string; html?: string | null }): string;
  wait(untilMs: number, wakeOn?: WakeOn[]): void;
  log(level: Level, message: string): void;
}

/** A positive id from a number or its text ("7"); throws InvalidConfig naming `what` otherwise. */
export function idFrom(value: unknown, what: string): number;

/** The item's short CRM reference as task bindings take it: "D_12", "T80_5". */
export function crmBinding(ref: ItemRef): string;

/** The contract's exports: `export const { describe, run } = action({ manifest, run })`. */
export function action<Config = Record<string, unknown>>(definition: {
  manifest: Manifest;
  run(ctx: Context, config: Config): Record<string, unknown> | void;
}): { describe(): unknown; run(invocation: unknown): string };
