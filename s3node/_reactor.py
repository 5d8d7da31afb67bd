"""
Reactor selection for s3node.

s3node speaks gRPC through ``grpc.aio``, which needs an asyncio event loop, so
every role runs on Twisted's asyncio reactor.  twistd imports plugin modules
while it builds its subcommand list, before it installs its default reactor;
the plugin module calls :func:`install_asyncio_reactor_for_twistd` then, so a
plain ``twistd -n s3node ...`` works.  A reactor named with ``--reactor`` is
installed earlier, while twistd parses its own options; :func:`require_asyncio_reactor`
turns that case into a one-line usage error.

This module is imported by the plugin file at scan time: keep it light.
"""

import sys


def _reactor_installed() -> bool:
    return "twisted.internet.reactor" in sys.modules


def install_asyncio_reactor_for_twistd(argv: list[str] | None = None) -> None:
    """
    Install the asyncio reactor when twistd is about to run s3node and no
    reactor is installed yet.

    Only a command line that names the ``s3node`` subcommand is affected, so
    another plugin's ``twistd`` run keeps its own default reactor.
    """
    argv = sys.argv if argv is None else argv
    if _reactor_installed() or "s3node" not in argv[1:]:
        return
    # twistd installs a reactor named with --reactor while it parses its own
    # options; with a stale plugin cache it imports this module during that
    # very installation, so leave the choice to it (check_installed_reactor
    # rejects anything but asyncio afterwards).
    twistd_args = argv[1 : argv.index("s3node", 1)]
    if any(a.startswith(("--reactor", "-r")) for a in twistd_args):
        return
    from twisted.internet import asyncioreactor

    asyncioreactor.install()


def require_asyncio_reactor(reactor: object) -> None:
    """
    Raise :class:`twisted.python.usage.UsageError` unless ``reactor`` is
    Twisted's asyncio reactor.
    """
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor
    from twisted.python.usage import UsageError

    if not isinstance(reactor, AsyncioSelectorReactor):
        raise UsageError(
            f"s3node needs the asyncio reactor, not {type(reactor).__name__}: "
            "use --reactor=asyncio or leave --reactor out"
        )


def check_installed_reactor() -> None:
    """
    While options are parsed: if a reactor is installed already (twistd's
    ``--reactor``), raise :class:`twisted.python.usage.UsageError` unless it
    is the asyncio reactor.
    """
    if _reactor_installed():
        from twisted.internet import reactor

        require_asyncio_reactor(reactor)
