"""The `synth` command line.

Start-up must stay instant: this module and the command modules in
`synth/commands/` import only the standard library at the top; torch,
pandas, Prefect and Great Expectations are imported inside the command that
needs them. Exit codes: 0 success, 1 the gate failed, 2 bad input (spec,
data, paths, model folder), always as one line on stderr; 3 an unexpected
internal error (a bug: please report it with the flow's log), or the local
Prefect server could not start; 130 interrupted by Ctrl-C (SIGINT), 143 by
SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# The exit codes are re-exported: callers of `main()` compare its result with `synth.cli.EXIT_*`.
from synth.commands import COMMANDS, EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_INTERNAL, EXIT_OK  # noqa: F401


def _parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(
        prog="synth",
        description="Train a generator on a real table, check fidelity and privacy, publish only what passes.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {name: importlib.import_module(f"synth.commands.{name}") for name in COMMANDS}
    for module in modules.values():
        module.register(commands)
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    parser, modules = _parser()
    args = parser.parse_args(argv)
    from synth.errors import SynthError

    try:
        return modules[args.command].execute(args)
    except SynthError as err:
        print(f"synth {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as error:  # Ctrl-C, or synth.interrupts.Interrupted (SIGINT/SIGTERM during `synth run`)
        import signal

        from synth import interrupts

        signum = getattr(error, "signum", signal.SIGINT)
        done = "; ".join(interrupts.committed()) or "nothing was published"  # what a run committed before it
        print(f"synth {args.command}: interrupted ({signal.Signals(signum).name}); {done}", file=sys.stderr)
        return interrupts.EXIT_CODES.get(signum, 130)


if __name__ == "__main__":
    sys.exit(main())
