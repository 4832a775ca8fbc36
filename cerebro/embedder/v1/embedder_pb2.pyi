from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EmbedRequest(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("embedding", "chunk_count", "model_version")
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    embedding: _containers.RepeatedScalarFieldContainer[float]
    chunk_count: int
    model_version: str
    def __init__(self, embedding: _Optional[_Iterable[float]] = ..., chunk_count: _Optional[int] = ..., model_version: _Optional[str] = ...) -> None: ...

class EmbedBatchRequest(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ...) -> None: ...

class Embedding(_message.Message):
    __slots__ = ("values", "chunk_count")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    chunk_count: int
    def __init__(self, values: _Optional[_Iterable[float]] = ..., chunk_count: _Optional[int] = ...) -> None: ...

class EmbedBatchResponse(_message.Message):
    __slots__ = ("embeddings", "model_version")
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    embeddings: _containers.RepeatedCompositeFieldContainer[Embedding]
    model_version: str
    def __init__(self, embeddings: _Optional[_Iterable[_Union[Embedding, _Mapping]]] = ..., model_version: _Optional[str] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetModelInfoResponse(_message.Message):
    __slots__ = ("model_name", "dimensions", "max_tokens_per_chunk", "chunk_overlap_tokens", "embedding_version", "backend", "max_text_bytes", "max_batch_texts")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_PER_CHUNK_FIELD_NUMBER: _ClassVar[int]
    CHUNK_OVERLAP_TOKENS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_VERSION_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MAX_TEXT_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_TEXTS_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    dimensions: int
    max_tokens_per_chunk: int
    chunk_overlap_tokens: int
    embedding_version: str
    backend: str
    max_text_bytes: int
    max_batch_texts: int
    def __init__(self, model_name: _Optional[str] = ..., dimensions: _Optional[int] = ..., max_tokens_per_chunk: _Optional[int] = ..., chunk_overlap_tokens: _Optional[int] = ..., embedding_version: _Optional[str] = ..., backend: _Optional[str] = ..., max_text_bytes: _Optional[int] = ..., max_batch_texts: _Optional[int] = ...) -> None: ...
