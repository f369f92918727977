"""The built-in "change-stage" action, ported to Python: moves the item to another stage."""

import stagewright
from stagewright import Capability


class ChangeStage(stagewright.Action):
    manifest = stagewright.Manifest(
        id="change-stage-py",
        name="Change stage (Python)",
        version="0.1.0",
        description="Moves the item to another stage of its pipeline.",
        config_schema={
            "type": "object",
            "required": ["stage_id"],
            "additionalProperties": False,
            "properties": {
                "stage_id": {"type": "string", "title": "Stage", "description": "The stage to move the item to."}
            },
        },
        returns_schema={"type": "object", "properties": {"previous_stage_id": {"type": "string"}}},
        capabilities=[Capability.write("deal"), Capability.write("lead"), Capability.write("dynamic_*")],
    )

    def run(self, ctx, config):
        previous = ctx.item.stage_id or ""
        if previous == config["stage_id"]:
            ctx.log("info", "item is already in the target stage")
        else:
            ctx.move_to_stage(config["stage_id"])
            ctx.log("info", f"moved from {previous} to {config['stage_id']}")
        return {"previous_stage_id": previous}


WitWorld = stagewright.export(ChangeStage)
