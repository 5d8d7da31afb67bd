import datetime
from collections.abc import Iterable as _Iterable
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers

DESCRIPTOR: _descriptor.FileDescriptor

class ChunkInfo(_message.Message):
    __slots__ = ("checksum_algorithm", "chunk_id", "created", "digest", "size")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    size: int
    checksum_algorithm: str
    digest: str
    created: _timestamp_pb2.Timestamp
    def __init__(self, chunk_id: str | None = ..., size: int | None = ..., checksum_algorithm: str | None = ..., digest: str | None = ..., created: datetime.datetime | _timestamp_pb2.Timestamp | _Mapping | None = ...) -> None: ...

class PutChunkHeader(_message.Message):
    __slots__ = ("checksum_algorithm", "chunk_id", "digest", "size")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    size: int
    checksum_algorithm: str
    digest: str
    def __init__(self, chunk_id: str | None = ..., size: int | None = ..., checksum_algorithm: str | None = ..., digest: str | None = ...) -> None: ...

class PutChunkRequest(_message.Message):
    __slots__ = ("data", "header")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: PutChunkHeader
    data: bytes
    def __init__(self, header: PutChunkHeader | _Mapping | None = ..., data: bytes | None = ...) -> None: ...

class PutChunkResponse(_message.Message):
    __slots__ = ("checksum_algorithm", "chunk_id", "created", "digest", "size")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    size: int
    checksum_algorithm: str
    digest: str
    created: bool
    def __init__(self, chunk_id: str | None = ..., size: int | None = ..., checksum_algorithm: str | None = ..., digest: str | None = ..., created: bool | None = ...) -> None: ...

class GetChunkRequest(_message.Message):
    __slots__ = ("chunk_id", "length", "offset", "verify")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    VERIFY_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    offset: int
    length: int
    verify: bool
    def __init__(self, chunk_id: str | None = ..., offset: int | None = ..., length: int | None = ..., verify: bool | None = ...) -> None: ...

class GetChunkResponse(_message.Message):
    __slots__ = ("data", "info")
    INFO_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    info: ChunkInfo
    data: bytes
    def __init__(self, info: ChunkInfo | _Mapping | None = ..., data: bytes | None = ...) -> None: ...

class DeleteChunkRequest(_message.Message):
    __slots__ = ("chunk_id",)
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    def __init__(self, chunk_id: str | None = ...) -> None: ...

class DeleteChunkResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: bool | None = ...) -> None: ...

class StatChunkRequest(_message.Message):
    __slots__ = ("chunk_id",)
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    def __init__(self, chunk_id: str | None = ...) -> None: ...

class StatChunkResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: ChunkInfo
    def __init__(self, info: ChunkInfo | _Mapping | None = ...) -> None: ...

class ListChunksRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: int | None = ..., page_token: str | None = ...) -> None: ...

class ListChunksResponse(_message.Message):
    __slots__ = ("chunk_ids", "next_page_token")
    CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    chunk_ids: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    def __init__(self, chunk_ids: _Iterable[str] | None = ..., next_page_token: str | None = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("capacity", "chunk_count", "free", "node_id", "used", "version")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    capacity: int
    used: int
    free: int
    chunk_count: int
    version: str
    def __init__(self, node_id: str | None = ..., capacity: int | None = ..., used: int | None = ..., free: int | None = ..., chunk_count: int | None = ..., version: str | None = ...) -> None: ...
