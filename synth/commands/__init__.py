"""One module per `synth` sub-command.

Each module defines `register(commands)`, which adds its argparse sub-parser,
and `execute(args) -> int`, which runs it and returns the exit code. Modules
import only the standard library at the top (so `synth --help` stays
instant); torch, pandas, Prefect and Great Expectations are imported inside
`execute`. To add a command, write its module and add its name to COMMANDS.
"""

from __future__ import annotations

EXIT_OK, EXIT_GATE_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

# order = order in `synth --help`
COMMANDS = ["init", "run", "generate", "validate", "list", "show", "prune", "serve", "server"]
