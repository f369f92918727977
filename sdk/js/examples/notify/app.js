// The built-in "notify" action, ported to JavaScript: a notification to the item's
// responsible, a chosen user, or the responsible's supervisor.

import { action, Capability, Failed, idFrom, InvalidConfig } from "stagewright";

export const { describe, run } = action({
  manifest: {
    id: "notify-js",
    name: "Notify (JavaScript)",
    version: "0.1.0",
    description: "Notifies the item's responsible, a chosen user, or the responsible's supervisor.",
    configSchema: {
      type: "object",
      required: ["message"],
      additionalProperties: false,
      properties: {
        to: {
          type: "string",
          enum: ["responsible", "user", "supervisor"],
          title: "To",
          description: "responsible when left out; supervisor is the head of the responsible's department.",
        },
        user_id: {
          type: ["integer", "string"],
          title: "User",
          description: "The user to notify when To is user; templates allowed.",
        },
        message: { type: "string", minLength: 1, title: "Message", description: "The text; templates allowed." },
      },
      if: { properties: { to: { const: "user" } }, required: ["to"] },
      then: { required: ["user_id"] },
    },
    returnsSchema: {
      type: "object",
      properties: {
        notification_id: { type: "integer", title: "Notification id" },
        user_id: { type: "integer", title: "Notified user" },
      },
    },
    capabilities: [Capability.notify()],
  },

  run(ctx, config) {
    const responsible = () => {
      const id = ctx.field("ASSIGNED_BY_ID");
      if (id === null) throw new Failed("the item has no responsible");
      return idFrom(id, "the item's responsible");
    };
    const to = config.to ?? "responsible";
    let sent;
    if (to === "responsible") {
      sent = ctx.notifyUser(responsible(), config.message);
    } else if (to === "supervisor") {
      sent = ctx.notifySupervisorOf(responsible(), config.message);
    } else if (to === "user") {
      if (config.user_id === undefined) throw new InvalidConfig("user_id is required when to is user");
      sent = ctx.notifyUser(idFrom(config.user_id, "user_id"), config.message);
    } else {
      throw new InvalidConfig(`to ${to} is not responsible, user or supervisor`);
    }
    const [notificationId, userId] = sent;
    ctx.log("info", `notified user ${userId}`);
    return { notification_id: notificationId, user_id: userId };
  },
});
