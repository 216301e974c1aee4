"""Entry point of the `omdeploy` command: global options, verb registry, and the error contract.

Exit codes: 0 ok; 1 a failure was found (or a tool failed); 2 a user error (bad input/options).
User errors print one line and a hint, never a traceback; --debug shows tracebacks.
"""
from __future__ import annotations

import importlib
import logging
import sys
from typing import List, Optional

# one module per verb, in workflow order (the order of --help); each defines register(app)
COMMANDS = ["doctor", "export", "inspect", "check", "sanitize", "spec", "convert", "aipp", "compare", "run",
            "precision", "bench", "jpeg", "explain", "demo", "serve", "pack", "verify", "selftest"]

_debug = False


def _configure_logging(verbose: int, quiet: bool) -> None:
    from rich.logging import RichHandler

    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logger = logging.getLogger("omdeploy")
    logger.handlers[:] = [RichHandler(console=_err_console(), show_time=False, show_path=False,
                                      markup=False, rich_tracebacks=False)]
    logger.setLevel(level)
    # third-party warnings (PIL, torch, numpy) go to the log, shown only with -v: stderr is omdeploy's own lines
    logging.captureWarnings(True)
    warned = logging.getLogger("py.warnings")
    warned.propagate = False
    warned.handlers[:] = logger.handlers if verbose >= 1 else [logging.NullHandler()]


def _err_console():
    from ._output import err_console

    return err_console


def build_app():
    import typer

    from .. import __version__

    app = typer.Typer(name="omdeploy", add_completion=False, no_args_is_help=True,
                      context_settings={"help_option_names": ["-h", "--help"]},
                      pretty_exceptions_enable=False, rich_markup_mode=None,
                      help="Take vision models from PyTorch to Huawei Ascend edge boxes, checked at every step.")

    def version_callback(value: bool) -> None:
        if value:
            typer.echo("omdeploy {}".format(__version__))
            raise typer.Exit()

    @app.callback()
    def _global(
        verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output (-vv for debug)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors."),
        debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
        version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True,
                                     help="Print the version and exit."),
    ) -> None:
        global _debug
        _debug = _debug or debug
        _configure_logging(verbose + (2 if debug else 0), quiet)

    for name in COMMANDS:
        importlib.import_module("omdeploy.cli." + name).register(app)
    return app


def _report(exc: BaseException) -> int:
    from ..errors import OmdeployError

    if isinstance(exc, OSError) and exc.filename is not None:
        return _report_os_error(exc)
    console = _err_console()
    if _debug:
        console.print_exception()
    if isinstance(exc, OmdeployError):
        console.print("error: {}".format(exc.message), markup=False, highlight=False)
        if exc.hint:
            console.print("hint: {}".format(exc.hint), markup=False, highlight=False, style="dim")
        return exc.exit_code
    if type(exc).__module__.startswith("onnxruntime"):  # the runtime refused the user's model: theirs to fix
        first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        console.print("error: onnxruntime cannot run the model: {}".format(first), markup=False, highlight=False)
        console.print("hint: an opset or operator the runtime lacks; omdeploy check MODEL lists what is "
                      "unsupported", markup=False, highlight=False, style="dim")
        return 2
    console.print("internal error: {}: {}".format(type(exc).__name__, exc), markup=False)
    if not _debug:
        console.print("run again with --debug for the traceback, and please report it", style="dim")
    return 1


def _usage_error(exc: BaseException) -> int:
    """click's usage errors (unknown option, bad value, missing argument) in the one-line contract."""
    if "NoArgsIsHelpError" in {c.__name__ for c in type(exc).__mro__}:  # `omdeploy` alone: the help
        exc.show()  # type: ignore[attr-defined]
        return 2
    console = _err_console()
    message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    console.print("error: {}".format(message), markup=False, highlight=False)
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        console.print("hint: {} -h shows the options".format(ctx.command_path), markup=False, highlight=False,
                      style="dim")
    return 2


def _report_os_error(exc: OSError) -> int:
    """A file the user named cannot be read or written (a directory, no permission, no space): exit 2."""
    import errno

    if isinstance(exc, FileNotFoundError):
        from ..errors import UserError

        return _report(UserError("{} does not exist".format(exc.filename), hint="check the path"))
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        from ..fileio import user_error_for

        return _report(user_error_for(exc, exc.filename))
    console = _err_console()
    if _debug:
        console.print_exception()
    console.print("error: cannot use {}: {}".format(exc.filename, exc.strerror or exc), markup=False, highlight=False)
    console.print("hint: check the path (a file, not a folder), its permissions and the free space", markup=False,
                  highlight=False, style="dim")
    return 2


def _click_kind(exc: BaseException) -> str:
    """'exit', 'abort', 'usage' or '' by class name: typer >= 0.20 vendors click as typer._click, so the
    exception classes may come from either copy."""
    names = {c.__name__ for c in type(exc).__mro__}
    if "Exit" in names:
        return "exit"
    if "Abort" in names:
        return "abort"
    if "ClickException" in names:
        return "usage"
    return ""


def _help_for_bare_group(app, args: List[str]) -> Optional[str]:
    """The help text when `args` name a command group and nothing more (`omdeploy`, `omdeploy aipp`)."""
    import typer.main

    command = typer.main.get_command(app)
    words: List[str] = []
    for word in args:
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            return None
        command, words = sub, words + [word]
    if not getattr(command, "commands", None):
        return None
    with command.make_context(" ".join(["omdeploy"] + words), [], resilient_parsing=True) as ctx:
        return ctx.get_help()


def main(argv: Optional[List[str]] = None) -> int:
    global _debug
    args = sys.argv[1:] if argv is None else list(argv)
    _debug = "--debug" in args
    try:
        import typer  # noqa: F401
    except ImportError:
        sys.stderr.write("omdeploy: the command line needs the 'cli' extra: pip install 'omdeploy[cli]'\n")
        return 2
    try:
        app = build_app()
        group_help = _help_for_bare_group(app, args)
        if group_help is not None:
            sys.stdout.write(group_help + "\n")
            return 2  # as click >= 8.2 does; click 8.1 (the newest on Python 3.8) would exit 0
        result = app(args=args, prog_name="omdeploy", standalone_mode=False)
        if result == 130:  # typer turns Ctrl-C inside a command into a returned 130
            _err_console().print("interrupted")
        return result if isinstance(result, int) else 0
    except KeyboardInterrupt:
        _err_console().print("interrupted")
        return 130
    except Exception as exc:
        kind = _click_kind(exc)
        if kind == "exit":
            return exc.exit_code  # type: ignore[attr-defined]
        if kind == "abort":
            # click turns KeyboardInterrupt and any EOFError into Abort; an EOFError is a file read short
            cause = exc.__cause__
            if cause is not None and not isinstance(cause, KeyboardInterrupt):
                return _report(cause)
            _err_console().print("interrupted")
            return 130
        if kind == "usage":
            return _usage_error(exc)
        return _report(exc)


if __name__ == "__main__":
    sys.exit(main())
