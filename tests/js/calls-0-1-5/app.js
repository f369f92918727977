// Test plugin: calls what contract 0.1.5 added, through the JavaScript SDK: it completes the
// item's open tasks, texts a number, and posts about the item in the Activity Stream.

import { action, Capability } from "stagewright";

export const { describe, run } = action({
  manifest: {
    id: "calls-0-1-5-js",
    name: "Contract 0.1.5 calls (JavaScript)",
    version: "0.1.0",
    description: "Completes the item's tasks, sends a text message and posts in the Activity Stream.",
    configSchema: { type: "object" },
    returnsSchema: { type: "object" },
    capabilities: [
      Capability.write("deal"),
      Capability.write("task"),
      Capability.write("sms"),
      Capability.write("feed"),
    ],
  },

  run(ctx) {
    const completed = ctx.completeTasks();
    const message = ctx.sendSms("+1 555 0100", `About ${ctx.field("TITLE")}`);
    const post = ctx.postToFeed(1, "Posted from JavaScript", "JS", ctx.item.ref);
    return { completed, message, post };
  },
});
