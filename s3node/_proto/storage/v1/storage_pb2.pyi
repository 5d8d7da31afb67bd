import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChunkInfo(_message.Message):
    __slots__ = ("chunk_id", "size", "checksum_algorithm", "digest", "created")
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
    def __init__(self, chunk_id: _Optional[str] = ..., size: _Optional[int] = ..., checksum_algorithm: _Optional[str] = ..., digest: _Optional[str] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PutChunkHeader(_message.Message):
    __slots__ = ("chunk_id", "size", "checksum_algorithm", "digest", "transfer_crc32c")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_CRC32C_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    size: int
    checksum_algorithm: str
    digest: str
    transfer_crc32c: str
    def __init__(self, chunk_id: _Optional[str] = ..., size: _Optional[int] = ..., checksum_algorithm: _Optional[str] = ..., digest: _Optional[str] = ..., transfer_crc32c: _Optional[str] = ...) -> None: ...

class PutChunkRequest(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: PutChunkHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[PutChunkHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class PutChunkResponse(_message.Message):
    __slots__ = ("chunk_id", "size", "checksum_algorithm", "digest", "created")
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
    def __init__(self, chunk_id: _Optional[str] = ..., size: _Optional[int] = ..., checksum_algorithm: _Optional[str] = ..., digest: _Optional[str] = ..., created: _Optional[bool] = ...) -> None: ...

class PutSmallChunkRequest(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: PutChunkHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[PutChunkHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class GetChunkRequest(_message.Message):
    __slots__ = ("chunk_id", "offset", "length", "verify", "reader_verifies")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    VERIFY_FIELD_NUMBER: _ClassVar[int]
    READER_VERIFIES_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    offset: int
    length: int
    verify: bool
    reader_verifies: bool
    def __init__(self, chunk_id: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., verify: _Optional[bool] = ..., reader_verifies: _Optional[bool] = ...) -> None: ...

class GetChunkResponse(_message.Message):
    __slots__ = ("info", "data")
    INFO_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    info: ChunkInfo
    data: bytes
    def __init__(self, info: _Optional[_Union[ChunkInfo, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class GetSmallChunkResponse(_message.Message):
    __slots__ = ("info", "data")
    INFO_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    info: ChunkInfo
    data: bytes
    def __init__(self, info: _Optional[_Union[ChunkInfo, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class DeleteChunkRequest(_message.Message):
    __slots__ = ("chunk_id",)
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    def __init__(self, chunk_id: _Optional[str] = ...) -> None: ...

class DeleteChunkResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class StatChunkRequest(_message.Message):
    __slots__ = ("chunk_id",)
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    def __init__(self, chunk_id: _Optional[str] = ...) -> None: ...

class StatChunkResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: ChunkInfo
    def __init__(self, info: _Optional[_Union[ChunkInfo, _Mapping]] = ...) -> None: ...

class ListChunksRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListChunksResponse(_message.Message):
    __slots__ = ("chunk_ids", "next_page_token")
    CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    chunk_ids: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    def __init__(self, chunk_ids: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("node_id", "capacity", "used", "free", "chunk_count", "version", "quarantined_count", "bulk_port", "bulk_local")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    QUARANTINED_COUNT_FIELD_NUMBER: _ClassVar[int]
    BULK_PORT_FIELD_NUMBER: _ClassVar[int]
    BULK_LOCAL_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    capacity: int
    used: int
    free: int
    chunk_count: int
    version: str
    quarantined_count: int
    bulk_port: int
    bulk_local: str
    def __init__(self, node_id: _Optional[str] = ..., capacity: _Optional[int] = ..., used: _Optional[int] = ..., free: _Optional[int] = ..., chunk_count: _Optional[int] = ..., version: _Optional[str] = ..., quarantined_count: _Optional[int] = ..., bulk_port: _Optional[int] = ..., bulk_local: _Optional[str] = ...) -> None: ...

class BulkPutHead(_message.Message):
    __slots__ = ("secret", "header", "node_id")
    SECRET_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    secret: bytes
    header: PutChunkHeader
    node_id: str
    def __init__(self, secret: _Optional[bytes] = ..., header: _Optional[_Union[PutChunkHeader, _Mapping]] = ..., node_id: _Optional[str] = ...) -> None: ...

class BulkPutReply(_message.Message):
    __slots__ = ("result", "error_code", "message")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    result: PutChunkResponse
    error_code: str
    message: str
    def __init__(self, result: _Optional[_Union[PutChunkResponse, _Mapping]] = ..., error_code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class BulkGetHead(_message.Message):
    __slots__ = ("secret", "request", "node_id")
    SECRET_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    secret: bytes
    request: GetChunkRequest
    node_id: str
    def __init__(self, secret: _Optional[bytes] = ..., request: _Optional[_Union[GetChunkRequest, _Mapping]] = ..., node_id: _Optional[str] = ...) -> None: ...

class BulkGetReply(_message.Message):
    __slots__ = ("info", "error_code", "message", "length")
    INFO_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    info: ChunkInfo
    error_code: str
    message: str
    length: int
    def __init__(self, info: _Optional[_Union[ChunkInfo, _Mapping]] = ..., error_code: _Optional[str] = ..., message: _Optional[str] = ..., length: _Optional[int] = ...) -> None: ...

class QuarantineEntry(_message.Message):
    __slots__ = ("chunk_id", "reason", "quarantined_at", "entry_id", "size")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    QUARANTINED_AT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    reason: str
    quarantined_at: _timestamp_pb2.Timestamp
    entry_id: str
    size: int
    def __init__(self, chunk_id: _Optional[str] = ..., reason: _Optional[str] = ..., quarantined_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., entry_id: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class ListQuarantinedRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListQuarantinedResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[QuarantineEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[QuarantineEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DropQuarantinedRequest(_message.Message):
    __slots__ = ("entry_id",)
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    def __init__(self, entry_id: _Optional[str] = ...) -> None: ...

class DropQuarantinedResponse(_message.Message):
    __slots__ = ("dropped",)
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    dropped: bool
    def __init__(self, dropped: _Optional[bool] = ...) -> None: ...
