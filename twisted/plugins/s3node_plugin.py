"""The ``twistd s3node`` plugin: a thin pointer at :mod:`s3node.tap`."""

from twisted.application.service import ServiceMaker

from s3node._reactor import install_asyncio_reactor_for_twistd

install_asyncio_reactor_for_twistd()

s3node = ServiceMaker(
    "s3node",
    "s3node.tap",
    "s3node distributed file store (gateway, storage node or standalone)",
    "s3node",
)
