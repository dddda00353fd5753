"""Chat and text completions: request -> prompt tokens -> engine -> response or SSE stream.

`OpenAIServing` is built once (on app.state) and keeps no per-request state; each call makes a
`Submission` (its engine requests and one output queue) and one `ChoiceState` per choice, which turns
engine steps into deltas. Streaming and non-streaming responses are built from the same deltas.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request as HttpRequest

from modeling.chat import ChatFormatError, render_messages
from modeling.constrained import ConstraintError
from service.api.errors import ApiError
from service.api.protocol import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChoiceLogprobs,
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    CompletionResponse,
    Delta,
    FunctionDelta,
    FunctionOut,
    SpeculativeUsage,
    TokenLogprob,
    ToolCallDeltaOut,
    ToolCallOut,
    TopLogprob,
    Usage,
    new_id,
    now,
)
from service.engine.core import Engine, QueueFullError, Request
from service.engine.detokenize import ChoiceDecoder, ChoiceDelta
from service.engine.params import GenerationParams, StepOutput, TokenLogprobs
from service.metrics import Metrics
from service.models import ModelSet, ServedModel
from service.settings import Settings

log = logging.getLogger(__name__)


class Submission:
    """The engine requests of one API call (prompts x n choices), delivering into one asyncio queue."""

    def __init__(self, engine: Engine, prompts: list[list[int]], params: GenerationParams):
        self.engine, self.n = engine, params.sampling.n
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[int, StepOutput]] = asyncio.Queue()
        self.requests = [Request(uuid.uuid4().hex, p, params, self._sink(i * self.n)) for i, p in enumerate(prompts)]
        self.open = set(range(len(prompts) * self.n))
        try:
            for req in self.requests:
                engine.add_request(req)
        except BaseException:
            self.cancel()
            raise

    def _sink(self, offset: int):
        def put(out: StepOutput) -> None:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (offset + out.index, out))
        return put

    async def outputs(self) -> AsyncIterator[tuple[int, StepOutput]]:
        while self.open:
            index, out = await self.queue.get()
            if index not in self.open:
                continue
            if out.finish_reason is not None:
                self.open.discard(index)
            yield index, out

    def stop_choice(self, index: int) -> None:
        """A stop string ended this choice: the engine frees its row."""
        self.open.discard(index)
        self.engine.finish_choice(self.requests[index // self.n], index % self.n)

    def cancel(self) -> None:
        for req in self.requests:
            self.engine.cancel(req)


@dataclass
class ChoiceState:
    """One choice's accumulated output."""

    decoder: ChoiceDecoder
    content: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)  # {"id", "name", "arguments"}
    logprobs: list[TokenLogprobs] = field(default_factory=list)
    num_tokens: int = 0
    drafted: int = 0
    accepted: int = 0
    finish_reason: str | None = None
    error: str | None = None

    def update(self, out: StepOutput, submission: Submission, index: int) -> tuple[ChoiceDelta, list[TokenLogprobs]]:
        self.num_tokens += len(out.tokens)
        self.drafted += out.drafted
        self.accepted += out.accepted
        delta = self.decoder.feed(out.tokens)
        if delta.stopped:
            self.finish_reason = "stop"
            if out.finish_reason is None:
                submission.stop_choice(index)
        elif out.finish_reason is not None:
            tail = self.decoder.finish()
            delta.content += tail.content
            delta.tool_calls += tail.tool_calls
            self.finish_reason = out.finish_reason
            self.error = out.extra.get("error")
        if self.finish_reason == "stop" and self.decoder.num_tool_calls:
            self.finish_reason = "tool_calls"
        # every generated token has an entry, the end-of-turn token included (as vLLM does): a
        # distilling client needs the teacher's distribution where it decided to stop
        logprobs = list(out.logprobs or ())
        self.logprobs += logprobs
        self.content += delta.content
        for d in delta.tool_calls:
            if d.id is not None:
                self.calls.append({"id": d.id, "name": d.name or "", "arguments": ""})
            self.calls[d.index]["arguments"] += d.arguments
        return delta, logprobs


class OpenAIServing:
    def __init__(self, models: ModelSet, settings: Settings, metrics: Metrics):
        self.models, self.settings, self.metrics = models, settings, metrics

    # ---- shared steps ---------------------------------------------------------------------------

    def model(self, name: str) -> ServedModel:
        role = self.models.resolve(name)
        if role is None:
            raise ApiError(404, f"the model {name!r} does not exist; see GET /v1/models", param="model",
                           code="model_not_found")
        if role not in self.models.models:
            raise ApiError(503, f"the model {name!r} is still loading", code="model_loading",
                           headers={"Retry-After": str(self.settings.retry_after_s)})
        return self.models.models[role]

    def encode(self, served: ServedModel, text: str, param: str) -> list[int]:
        ids = served.tokenizer.encode(text)
        limit = served.engine.max_model_len
        if len(ids) >= limit:
            raise ApiError(400, f"the prompt has {len(ids)} tokens; this model's context is {limit} tokens "
                           "(prompt plus at least one generated token)", param=param, code="context_length_exceeded")
        if not ids:
            raise ApiError(400, "the prompt is empty", param=param)
        return ids

    def submit(self, served: ServedModel, prompts: list[list[int]], params: GenerationParams) -> Submission:
        try:
            return Submission(served.engine, prompts, params)
        except QueueFullError as exc:
            raise ApiError(503, f"server busy: {exc}", code="queue_full",
                           headers={"Retry-After": str(self.settings.retry_after_s)}) from None
        except ValueError as exc:
            raise ApiError(400, str(exc), param="n") from None

    def usage(self, served: ServedModel, prompt_tokens: int, states: list[ChoiceState]) -> Usage:
        completion = sum(s.num_tokens for s in states)
        spec = None
        if served.engine.speculative != "off":
            spec = SpeculativeUsage(drafted_tokens=sum(s.drafted for s in states),
                                    accepted_tokens=sum(s.accepted for s in states))
        self.metrics.prompt_tokens.labels(served.name).inc(prompt_tokens)
        self.metrics.generation_tokens.labels(served.name).inc(completion)
        for s in states:
            self.metrics.requests.labels(served.name, s.finish_reason or "abort").inc()
        return Usage(prompt_tokens=prompt_tokens, completion_tokens=completion,
                     total_tokens=prompt_tokens + completion, speculative=spec)

    async def collect(self, sub: Submission, states: list[ChoiceState], raw: HttpRequest) -> None:
        """Run a non-streamed request to the end; a client that hangs up cancels it."""

        async def drain() -> None:
            async for index, out in sub.outputs():
                states[index].update(out, sub, index)

        task = asyncio.ensure_future(drain())
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=0.5)
                if not task.done() and await raw.is_disconnected():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    raise ApiError(400, "the client closed the connection", code="client_disconnected")
            await task
        finally:
            sub.cancel()
        errors = [s.error for s in states if s.error]
        if errors:
            raise ApiError(500, f"generation failed: {errors[0]}", type="server_error")

    def token_text(self, served: ServedModel, token: int) -> tuple[str, list[int]]:
        """The token's text, or `bytes:\\xNN...` (vLLM's convention) when it is not whole UTF-8 characters."""
        raw = served.tokenizer.token_bytes[token]
        try:
            return raw.decode("utf-8"), list(raw)
        except UnicodeDecodeError:
            return "bytes:" + "".join(f"\\x{b:02x}" for b in raw), list(raw)

    # ---- chat -----------------------------------------------------------------------------------

    def chat_logprobs(self, served: ServedModel, entries: list[TokenLogprobs]) -> ChoiceLogprobs:
        def top(t: int, lp: float) -> TopLogprob:
            text, raw = self.token_text(served, t)
            return TopLogprob(token=text, logprob=lp, bytes=raw)

        return ChoiceLogprobs(content=[
            TokenLogprob(**top(e.token, e.logprob).model_dump(), top_logprobs=[top(t, lp) for t, lp in e.top])
            for e in entries
        ])

    async def create_chat_completion(self, req: ChatCompletionRequest, raw: HttpRequest):
        """A `ChatCompletionResponse` dict, or an async iterator of SSE lines when `stream` is set."""
        served = self.model(req.model)
        try:
            text = render_messages([m.to_chat_dict() for m in req.messages],
                                   [t.model_dump() for t in req.tools] if req.tools else None,
                                   add_generation_prompt=True)
        except ChatFormatError as exc:
            raise ApiError(400, str(exc), param="messages") from None
        prompt = self.encode(served, text, "messages")
        sampling = req.to_generation_params(served.engine.max_model_len - len(prompt))
        spec = req.constraint_spec()
        try:
            constraint = served.grammars.compile(spec) if spec is not None else None
        except ConstraintError as exc:
            raise ApiError(400, str(exc), param="response_format" if spec.kind == "json" else "tools") from None
        sub = self.submit(served, [prompt], GenerationParams(sampling, constraint))
        states = [ChoiceState(ChoiceDecoder(served.tokenizer.token_bytes, served.special_ids, req.stop or ()))
                  for _ in range(sampling.n)]
        header = {"id": new_id("chatcmpl"), "created": now(), "model": req.model}
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            return self.chat_stream(served, sub, states, header, len(prompt), req.logprobs, include_usage)
        await self.collect(sub, states, raw)
        choices = [
            ChatChoice(
                index=i,
                message=AssistantMessage(
                    content=s.content if s.content or not s.calls else None,
                    tool_calls=[ToolCallOut(id=c["id"], function=FunctionOut(name=c["name"], arguments=c["arguments"]))
                                for c in s.calls] or None,
                ),
                logprobs=self.chat_logprobs(served, s.logprobs) if req.logprobs else None,
                finish_reason=s.finish_reason if s.finish_reason in ("stop", "length", "tool_calls") else "stop",
            )
            for i, s in enumerate(states)
        ]
        usage = self.usage(served, len(prompt), states)
        return ChatCompletionResponse(**header, choices=choices, usage=usage).model_dump(exclude_none=True)

    async def chat_stream(self, served: ServedModel, sub: Submission, states: list[ChoiceState],
                          header: dict[str, Any], prompt_tokens: int, logprobs: bool,
                          include_usage: bool) -> AsyncIterator[str]:
        def event(choices: list[ChatChunkChoice], usage: Usage | None = None) -> str:
            chunk = ChatCompletionChunk(**header, choices=choices, usage=usage).model_dump(exclude_none=True)
            if include_usage and usage is None:
                chunk["usage"] = None
            return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

        try:
            for i in range(len(states)):
                yield event([ChatChunkChoice(index=i, delta=Delta(role="assistant", content=""))])
            async for index, out in sub.outputs():
                state = states[index]
                delta, lps = state.update(out, sub, index)
                if state.error:
                    yield f"data: {json.dumps(ApiError(500, state.error, type='server_error').body())}\n\n"
                    break
                if delta or lps:
                    yield event([ChatChunkChoice(
                        index=index,
                        delta=Delta(content=delta.content or None, tool_calls=[
                            ToolCallDeltaOut(index=d.index, id=d.id, type="function" if d.id else None,
                                             function=FunctionDelta(name=d.name, arguments=d.arguments))
                            for d in delta.tool_calls] or None),
                        logprobs=self.chat_logprobs(served, lps) if logprobs and lps else None,
                    )])
                if state.finish_reason is not None:
                    yield event([ChatChunkChoice(index=index, delta=Delta(), finish_reason=state.finish_reason)])
            usage = self.usage(served, prompt_tokens, states)
            if include_usage:
                yield event([], usage)
            yield "data: [DONE]\n\n"
        finally:
            sub.cancel()  # a no-op when done; frees the rows when the client went away

    # ---- text completions -----------------------------------------------------------------------

    def completion_logprobs(self, served: ServedModel, entries: list[TokenLogprobs], offset: int
                            ) -> CompletionLogprobs:
        out = CompletionLogprobs()
        for e in entries:
            text, _ = self.token_text(served, e.token)
            out.tokens.append(text)
            out.token_logprobs.append(e.logprob)
            out.top_logprobs.append({self.token_text(served, t)[0]: lp for t, lp in e.top})
            out.text_offset.append(offset)
            offset += len(text)
        return out

    async def create_completion(self, req: CompletionRequest, raw: HttpRequest):
        served = self.model(req.model)
        prompts = [self.encode(served, p, "prompt") for p in req.prompt]
        sampling = req.to_generation_params(served.engine.max_model_len - max(len(p) for p in prompts))
        sub = self.submit(served, prompts, GenerationParams(sampling))
        states = [ChoiceState(ChoiceDecoder(served.tokenizer.token_bytes, served.special_ids, req.stop or (),
                                            parse_tools=False)) for _ in range(len(prompts) * sampling.n)]
        header = {"id": new_id("cmpl"), "created": now(), "model": req.model}
        prompt_tokens = sum(len(p) for p in prompts)
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            return self.completion_stream(served, sub, states, header, prompt_tokens, req, include_usage)
        await self.collect(sub, states, raw)
        choices = [CompletionChoice(
            index=i, text=s.content, finish_reason="length" if s.finish_reason == "length" else "stop",
            logprobs=self.completion_logprobs(served, s.logprobs, 0) if req.logprobs is not None else None,
        ) for i, s in enumerate(states)]
        return CompletionResponse(**header, choices=choices, usage=self.usage(served, prompt_tokens, states)
                                  ).model_dump(exclude_none=True)

    async def completion_stream(self, served: ServedModel, sub: Submission, states: list[ChoiceState],
                                header: dict[str, Any], prompt_tokens: int, req: CompletionRequest,
                                include_usage: bool) -> AsyncIterator[str]:
        def event(choices: list[CompletionChoice], usage: Usage | None = None) -> str:
            chunk = CompletionResponse(**header, choices=choices, usage=usage).model_dump(exclude_none=True)
            for c in chunk["choices"]:
                c.setdefault("finish_reason", None)  # the wire has null until the last chunk
            if include_usage and usage is None:
                chunk["usage"] = None
            return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

        offsets = [0] * len(states)
        try:
            async for index, out in sub.outputs():
                state = states[index]
                delta, lps = state.update(out, sub, index)
                if state.error:
                    yield f"data: {json.dumps(ApiError(500, state.error, type='server_error').body())}\n\n"
                    break
                finish = None
                if state.finish_reason is not None:
                    finish = "length" if state.finish_reason == "length" else "stop"
                if delta.content or finish or lps:
                    logprobs = (self.completion_logprobs(served, lps, offsets[index])
                                if req.logprobs is not None else None)
                    yield event([CompletionChoice(index=index, text=delta.content, logprobs=logprobs,
                                                  finish_reason=finish)])
                    offsets[index] += len(delta.content)
            usage = self.usage(served, prompt_tokens, states)
            if include_usage:
                yield event([], usage)
            yield "data: [DONE]\n\n"
        finally:
            sub.cancel()
