"""``rnn-serve``: one console script, one subcommand per part of the project.

Each part owns its own argument parser; this module only dispatches, and imports a part lazily
so that ``rnn-serve serve`` never pulls in torch (``train``/``export``/``evaluate`` need the
``train`` extra, ``loadtest`` the ``loadtest`` extra).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

#: subcommand → (module, function taking argv, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("service.server", "main", "serve the model repository over HTTP"),
    "train": ("export.cli", "train_main", "train LSTM/GRU models for one task (needs the train extra)"),
    "export": ("export.cli", "export_main", "export a trained checkpoint to an ONNX model package"),
    "evaluate": ("export.cli", "evaluate_main", "score a model package on a data file or folder"),
    "models": ("export.cli", "models_main", "re-create all six packages and the results table"),
    "loadtest": ("loadtest.cli", "main", "open/closed-loop load test and LSTM-vs-GRU A/B"),
}


def _usage() -> str:
    lines = ["usage: rnn-serve <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "rnn-serve <command> --help shows a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if args[0] not in COMMANDS:
        print(f"rnn-serve: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name, _ = COMMANDS[args[0]]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        extra = "train" if module_name.startswith("export") else "loadtest"
        print(
            f"rnn-serve {args[0]}: missing dependency {exc.name!r}; "
            f"install the extra: pip install 'rnn-serve[{extra}]'",
            file=sys.stderr,
        )
        return 2
    func: Callable[[list[str]], int | None] = getattr(module, func_name)
    return int(func(args[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
