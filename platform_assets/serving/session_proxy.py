"""A Spark Connect front for the Sail server that prepares each client session before it runs anything.

Sail keeps each session's catalog to itself, and only global temporary views are shared, so a client
could not name a table ``gold.fact_order_lines``. The proxy forwards every Spark Connect call to Sail
unchanged (bytes in, bytes out, metadata and errors included) and, the first time it sees a
(user, session) pair, and again whenever the endpoint's catalog changes, it runs the endpoint's
statements in that very session first: ``CREATE DATABASE gold`` and one view per served table
(``gold.fact_order_lines`` over ``global_temp.gold__fact_order_lines``). Views resolve at query time,
so they read the latest binding.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
from pyspark.sql.connect.proto import base_pb2, commands_pb2, relations_pb2

SERVICE = "spark.connect.SparkConnectService"
# method -> (request message, request streams, response streams), from Spark Connect's base.proto
METHODS: dict[str, tuple[type, bool, bool]] = {
    "ExecutePlan": (base_pb2.ExecutePlanRequest, False, True),
    "AnalyzePlan": (base_pb2.AnalyzePlanRequest, False, False),
    "Config": (base_pb2.ConfigRequest, False, False),
    "AddArtifacts": (base_pb2.AddArtifactsRequest, True, False),
    "ArtifactStatus": (base_pb2.ArtifactStatusesRequest, False, False),
    "Interrupt": (base_pb2.InterruptRequest, False, False),
    "ReattachExecute": (base_pb2.ReattachExecuteRequest, False, True),
    "ReleaseExecute": (base_pb2.ReleaseExecuteRequest, False, False),
    "ReleaseSession": (base_pb2.ReleaseSessionRequest, False, False),
    "FetchErrorDetails": (base_pb2.FetchErrorDetailsRequest, False, False),
    "CloneSession": (base_pb2.CloneSessionRequest, False, False),
    "GetStatus": (base_pb2.GetStatusRequest, False, False),
}

Statements = Callable[[], tuple[int, list[str]]]  # (catalog generation, SQL statements to run)


def _forwardable(metadata: Any) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in metadata or () if not k.startswith((":", "grpc-")) and k != "user-agent"]


class SessionProxy:
    """Listens on ``host:port`` (0: a free port) and forwards to the Sail server at ``upstream``."""

    def __init__(self, upstream: str, host: str, port: int, statements: Statements) -> None:
        self._channel = grpc.insecure_channel(
            upstream,
            options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
        )
        self._statements = statements
        self._prepared: dict[tuple[str, str], int] = {}  # (user, session) -> catalog generation
        self._lock = threading.Lock()
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="connect-proxy"),
            options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
        )
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, self._handlers()),)
        )
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        self.host = host

    def start(self) -> SessionProxy:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=2).wait()
        self._channel.close()

    def _handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        handlers = {}
        for name, (message, request_streams, response_streams) in METHODS.items():
            path = f"/{SERVICE}/{name}"
            if request_streams:
                handlers[name] = grpc.stream_unary_rpc_method_handler(self._stream_unary(path, message))
            elif response_streams:
                handlers[name] = grpc.unary_stream_rpc_method_handler(self._unary_stream(path, message))
            else:
                handlers[name] = grpc.unary_unary_rpc_method_handler(self._unary_unary(path, message))
        return handlers

    def _prepare(self, raw: bytes, message: type, method: str) -> None:
        request = message.FromString(raw)
        user, session = request.user_context.user_id, request.session_id
        if method.endswith("/ReleaseSession"):
            with self._lock:
                self._prepared.pop((user, session), None)
            return
        generation, statements = self._statements()
        with self._lock:  # one preparation at a time: a client's concurrent calls wait for it
            if self._prepared.get((user, session)) == generation:
                return
            for statement in statements:
                self._run(request, statement)
            self._prepared[(user, session)] = generation

    def _run(self, request: Any, statement: str) -> None:
        sql = commands_pb2.SqlCommand(input=relations_pb2.Relation(sql=relations_pb2.SQL(query=statement)))
        execute = base_pb2.ExecutePlanRequest(
            session_id=request.session_id,
            user_context=request.user_context,
            client_type="platform-serve",
            plan=base_pb2.Plan(command=commands_pb2.Command(sql_command=sql)),
        )
        call = self._channel.unary_stream(f"/{SERVICE}/ExecutePlan")
        for _ in call(execute.SerializeToString()):
            pass

    @staticmethod
    def _relay_error(error: grpc.RpcError, context: grpc.ServicerContext) -> None:
        # Spark Connect carries its error classes in the trailing metadata (grpc-status-details-bin)
        context.set_trailing_metadata(tuple(error.trailing_metadata() or ()))
        context.abort(error.code(), error.details() or "")

    def _unary_unary(self, path: str, message: type) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def handle(raw: bytes, context: grpc.ServicerContext) -> bytes:
            try:
                self._prepare(raw, message, path)
                return self._channel.unary_unary(path)(
                    raw,
                    metadata=_forwardable(context.invocation_metadata()),
                )
            except grpc.RpcError as error:
                self._relay_error(error, context)
                raise  # unreachable: abort raises

        return handle

    def _unary_stream(
        self, path: str, message: type
    ) -> Callable[[bytes, grpc.ServicerContext], Iterator[bytes]]:
        def handle(raw: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
            try:
                self._prepare(raw, message, path)
                responses = self._channel.unary_stream(path)(
                    raw,
                    metadata=_forwardable(context.invocation_metadata()),
                )
                context.add_callback(responses.cancel)  # a client that goes away cancels upstream
                yield from responses
            except grpc.RpcError as error:
                self._relay_error(error, context)

        return handle

    def _stream_unary(
        self, path: str, message: type
    ) -> Callable[[Iterator[bytes], grpc.ServicerContext], bytes]:
        def handle(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
            first = next(requests)

            def replay() -> Iterator[bytes]:
                yield first
                yield from requests

            try:
                self._prepare(first, message, path)
                return self._channel.stream_unary(path)(
                    replay(),
                    metadata=_forwardable(context.invocation_metadata()),
                )
            except grpc.RpcError as error:
                self._relay_error(error, context)
                raise

        return handle
