"""Test plugin: calls what contract 0.1.5 added, through the Python SDK: it completes the item's
open tasks, texts a number, and posts about the item in the Activity Stream."""

import stagewright
from stagewright import Capability


class Calls015(stagewright.Action):
    manifest = stagewright.Manifest(
        id="calls-0-1-5-py",
        name="Contract 0.1.5 calls (Python)",
        version="0.1.0",
        description="Completes the item's tasks, sends a text message and posts in the Activity Stream.",
        config_schema={"type": "object"},
        capabilities=[
            Capability.write("deal"),
            Capability.write("task"),
            Capability.write("sms"),
            Capability.write("feed"),
        ],
    )

    def run(self, ctx, config):
        completed = ctx.complete_tasks()
        message = ctx.send_sms("+1 555 0100", "About " + str(ctx.field("TITLE")))
        post = ctx.post_to_feed(1, "Posted from Python", "Py", ctx.item.ref)
        return {"completed": completed, "message": message, "post": post}


WitWorld = stagewright.export(Calls015)
