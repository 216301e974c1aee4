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
            "bench", "jpeg", "explain", "demo"]

_debug = False


def _configure_logging(verbose: int, quiet: bool) -> None:
    from rich.logging import RichHandler

    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logger = logging.getLogger("omdeploy")
    logger.handlers[:] = [RichHandler(console=_err_console(), show_time=False, show_path=False,
                                      markup=False, rich_tracebacks=False)]
    logger.setLevel(level)


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

    console = _err_console()
    if _debug:
        console.print_exception()
    if isinstance(exc, OmdeployError):
        console.print("error: {}".format(exc.message), markup=False, highlight=False)
        if exc.hint:
            console.print("hint: {}".format(exc.hint), markup=False, highlight=False, style="dim")
        return exc.exit_code
    console.print("internal error: {}: {}".format(type(exc).__name__, exc), markup=False)
    if not _debug:
        console.print("run again with --debug for the traceback, and please report it", style="dim")
    return 1


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
        result = app(args=args, prog_name="omdeploy", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except KeyboardInterrupt:
        _err_console().print("interrupted")
        return 130
    except Exception as exc:
        kind = _click_kind(exc)
        if kind == "exit":
            return exc.exit_code  # type: ignore[attr-defined]
        if kind == "abort":
            return 130
        if kind == "usage":
            exc.show()  # type: ignore[attr-defined]
            return 2
        return _report(exc)


if __name__ == "__main__":
    sys.exit(main())
