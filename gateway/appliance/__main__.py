"""`python -m gateway.appliance ...`: the appliance commands without the rest of the gateway CLI
(auditors and `ip netns exec` need nothing else)."""

import argparse

from gateway.appliance.cli import add_commands, run

parser = argparse.ArgumentParser(prog="python -m gateway.appliance")
add_commands(parser)
raise SystemExit(run(parser.parse_args()))
