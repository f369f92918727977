// A hostile JavaScript action for the host's limits: it spins, hoards memory or throws a bug,
// as the robot's config says, after staging a comment the host must throw away.

import { action, Capability } from "stagewright";

const modes = {
  loop() {
    for (;;) {}
  },
  memory() {
    const hoard = [];
    for (;;) hoard.push(new ArrayBuffer(4 << 20));
  },
  bug() {
    const missing = undefined;
    return missing.field;
  },
};

export const { describe, run } = action({
  manifest: {
    id: "misbehave-js",
    name: "Misbehave (JavaScript)",
    version: "0.1.0",
    description: "Spins, hoards memory or throws, for the host's limits.",
    configSchema: { type: "object", properties: { mode: { enum: Object.keys(modes) } } },
    capabilities: [Capability.write("deal")],
  },

  run(ctx, config) {
    ctx.addComment("must not survive");
    return modes[config.mode]();
  },
});
