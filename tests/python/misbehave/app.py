"""A hostile Python action for the host's limits: it spins, hoards memory or has a bug, as the
robot's config says, after staging a comment the host must throw away."""

import stagewright
from stagewright import Capability


def spin():
    while True:
        pass


def hoard():
    kept = []
    while True:
        kept.append(bytearray(4 << 20))


def bug():
    return {}["missing"]


MODES = {"loop": spin, "memory": hoard, "bug": bug}


class Misbehave(stagewright.Action):
    manifest = stagewright.Manifest(
        id="misbehave-py",
        name="Misbehave (Python)",
        version="0.1.0",
        description="Spins, hoards memory or has a bug, for the host's limits.",
        config_schema={"type": "object", "properties": {"mode": {"enum": list(MODES)}}},
        capabilities=[Capability.write("deal")],
    )

    def run(self, ctx, config):
        ctx.add_comment("must not survive")
        return MODES[config["mode"]]()


WitWorld = stagewright.export(Misbehave)
