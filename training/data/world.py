"""A deterministic simulated world that answers tool calls.

The world is built from one `world_seed`: a synthetic repository, a document index for search,
and a sandbox that runs a closed family of small programs. Every result is a pure function of
(world_seed, tool name, arguments), so the generator's tool results differ from sample to sample
with the arguments, and the fixtures it writes replay exactly in the evaluation broker.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from training.data.tools import ToolRegistry, default_registry

REFERENCE_DATE = dt.date(2026, 6, 30)  # "today" inside the world, so dates never depend on the clock
MODULES = ("auth", "billing", "search", "storage", "scheduler", "metrics", "api", "notify")
FILES = ("session", "tokens", "retry", "cache", "client", "limits", "rounding", "queue", "handlers")
VERBS = ("load", "save", "refresh", "validate", "compute", "resolve", "flush", "parse", "render", "sync")
NOUNS = ("token", "invoice", "index", "bucket", "job", "counter", "route", "message", "session", "quota")
TOPICS = ("retry budgets", "cache eviction", "rate limits", "currency rounding", "token rotation",
          "index compaction", "backup windows", "alert routing", "queue backpressure", "schema migrations",
          "connection pooling", "feature flags")
SITES = ("example.com", "example.org", "example.net")
KINDS = ("doc", "blog", "news")
LANGS = ("en", "en", "en", "en", "es", "de", "fr")  # the index is mostly English
PROTECTED_PREFIXES = ("infra/", ".git/", "secrets/")


def stable_rng(*parts: Any) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class Doc:
    url: str
    title: str
    topic: str
    module: str
    site: str
    kind: str
    lang: str
    age_days: int
    text: str

    @property
    def date(self) -> str:
        return (REFERENCE_DATE - dt.timedelta(days=self.age_days)).isoformat()

    @property
    def snippet(self) -> str:
        return self.text.split(". ")[0].rstrip(".") + "."


class World:
    def __init__(self, seed: int = 0, registry: ToolRegistry | None = None):
        self.seed = seed
        self.registry = registry or default_registry()
        self._files: dict[str, str] = {}

    # ---- repository ---------------------------------------------------------------------------
    @cached_property
    def paths(self) -> list[str]:
        paths = []
        for m in MODULES:
            rng = stable_rng(self.seed, "module", m)
            paths += [f"src/{m}/{f}.py" for f in sorted(rng.sample(FILES, 3))]
            paths += [f"docs/{m}.md", f"configs/{m}.yaml", f"tests/test_{m}.py"]
        paths += [f"logs/build-{n}.log" for n in range(1, 25)]
        return paths

    def file(self, path: str) -> str | None:
        if path not in self._files:
            if path not in set(self.paths):
                return None
            self._files[path] = _render_file(path, stable_rng(self.seed, "file", path))
        return self._files[path]

    def facts(self, path: str) -> dict[str, Any]:
        """What an answer may cite about a file: line count, first definition, constants, needle."""
        text = self.file(path) or ""
        lines = text.split("\n")
        defs = re.findall(r"^def (\w+)", text, re.M)
        consts = re.findall(r"^([A-Z_]+) = (\d+)$", text, re.M)
        needle = next((ln for ln in lines if "[ERROR]" in ln), None)
        return {"lines": len(lines), "defs": defs, "consts": consts, "needle": needle,
                "needle_line": lines.index(needle) + 1 if needle else None}

    # ---- documents ----------------------------------------------------------------------------
    @cached_property
    def docs(self) -> list[Doc]:
        out = []
        for i in range(240):
            rng = stable_rng(self.seed, "doc", i)
            topic, module = TOPICS[i % len(TOPICS)], rng.choice(MODULES)
            site, kind, lang = rng.choice(SITES), rng.choice(KINDS), rng.choice(LANGS)
            n, pct = rng.randint(2, 90), rng.randint(5, 95)
            title = f"{topic.capitalize()} in the {module} service, part {i // len(TOPICS) + 1}"
            slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
            text = (f"The {module} team tuned {topic} and cut p95 latency by {pct} percent. "
                    f"The new limit is {n} requests per second per tenant. "
                    f"Rollback takes {rng.randint(2, 45)} minutes and is tested every {rng.randint(2, 9)} weeks.")
            out.append(Doc(f"https://{site}/{kind}/{slug}", title, topic, module, site, kind, lang,
                           rng.randint(0, 700), text))
        return out

    @cached_property
    def _docs_by_url(self) -> dict[str, Doc]:
        return {d.url: d for d in self.docs}

    @cached_property
    def _search_index(self) -> list[tuple[Doc, str, frozenset[str]]]:
        """Per document, the text a query is matched against and its words (computed once, not per query)."""
        out = []
        for d in self.docs:
            hay = f"{d.title} {d.snippet}".casefold()
            out.append((d, hay, frozenset(re.findall(r"\w+", hay))))
        return out

    def search(self, q: str, recency: int | None = None, top_k: int = 3, site: str | None = None,
               filters: dict | None = None, exclude: list[str] | None = None) -> list[Doc]:
        terms = set(re.findall(r"\w+", q.casefold()))
        filters = filters or {}
        scored = []
        for d, hay, words in self._search_index:
            if (recency is not None and d.age_days > recency) or (site and d.site != site) \
                    or any(d.__dict__[k] != v for k, v in filters.items()) \
                    or any(x.casefold() in hay for x in exclude or ()):
                continue
            score = len(terms & words)
            if score:
                scored.append((-score, d.age_days, d.url, d))
        return [d for *_, d in sorted(scored)[:top_k]]

    def open(self, url: str) -> Doc | None:
        return self._docs_by_url.get(url)

    # ---- tools --------------------------------------------------------------------------------
    def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The result of one tool call, as the tool would return it."""
        tool = self.registry.resolve(name)
        if tool is None:
            return {"ok": False, "error": "unknown_tool", "name": name}
        problems = tool.errors(arguments)
        if problems:
            return {"ok": False, "error": "invalid_arguments", "details": problems}
        handler: Callable[..., dict[str, Any]] = getattr(self, "_tool_" + tool.name.replace(".", "_"))
        return handler(**self.registry.normalize(tool.name, arguments)[1])

    def _tool_web_search(self, q: str, top_k: int, **kw: Any) -> dict[str, Any]:
        docs = self.search(q, top_k=top_k, **kw)
        results = [{"title": d.title, "url": d.url, "date": d.date, "snippet": d.snippet} for d in docs]
        return {"ok": True, "query": q, "count": len(results), "results": results}

    def _tool_web_open(self, url: str) -> dict[str, Any]:
        d = self.open(url)
        if d is None:
            return {"ok": False, "error": "http_404", "url": url}
        return {"ok": True, "url": url, "title": d.title, "date": d.date, "text": d.text}

    def _read(self, path: str) -> str | dict[str, Any]:
        if path.startswith(PROTECTED_PREFIXES):
            return {"ok": False, "error": "permission_denied", "path": path}
        text = self.file(path)
        return {"ok": False, "error": "not_found", "path": path} if text is None else text

    def _tool_read_file(self, path: str, encoding: str) -> dict[str, Any]:
        text = self._read(path)
        if isinstance(text, dict):
            return text
        if encoding == "latin-1":
            text = text.encode("utf-8").decode("latin-1")
        return {"ok": True, "path": path, "encoding": encoding, "lines": text.count("\n") + 1, "content": text}

    def _tool_repo_read(self, path: str, grep: Any = None, lines: list[int] | None = None) -> dict[str, Any]:
        text = self._read(path)
        if isinstance(text, dict):
            return text
        all_lines = text.split("\n")
        if lines is not None:
            start, end = lines
            if start > end or start > len(all_lines):
                return {"ok": False, "error": "bad_range", "path": path, "total_lines": len(all_lines)}
            return {"ok": True, "path": path, "start": start, "end": min(end, len(all_lines)),
                    "content": "\n".join(all_lines[start - 1:end])}
        if grep is None:
            return {"ok": True, "path": path, "lines": len(all_lines), "content": text}
        g = grep if isinstance(grep, dict) else {"pattern": grep}
        fold = (lambda s: s.casefold()) if g.get("ignore_case") else (lambda s: s)
        hits = [{"line": i, "text": ln} for i, ln in enumerate(all_lines, 1) if fold(g["pattern"]) in fold(ln)]
        hits = hits[: g.get("max_matches", 20)]
        return {"ok": True, "path": path, "pattern": g["pattern"], "count": len(hits), "matches": hits}

    def _tool_file_write(self, path: str, content: str, append: bool) -> dict[str, Any]:
        if path.startswith(PROTECTED_PREFIXES):
            return {"ok": False, "error": "permission_denied", "path": path}
        return {"ok": True, "path": path, "mode": "append" if append else "overwrite",
                "bytes_written": len(content.encode("utf-8"))}

    def _tool_code_execute(self, language: str, code: str, timeout_ms: int,
                           argv: list[str] | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
        return run_program(language, code, timeout_ms, argv or [], env or {})


def _render_file(path: str, rng: random.Random) -> str:
    if path.startswith("logs/"):
        return _render_log(rng)
    module = path.split("/")[-1].split(".")[0].removeprefix("test_")
    if path.endswith(".py"):
        consts = [f"{name} = {rng.randint(2, 600)}" for name in
                  rng.sample(("MAX_RETRIES", "TIMEOUT_S", "BATCH_SIZE", "CACHE_TTL_S", "PAGE_SIZE"), 2)]
        body = [f'"""{module.capitalize()} helpers."""', "", *consts, ""]
        for _ in range(rng.randint(3, 6)):
            fn = f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}"
            body += ["", f"def {fn}(value, limit={rng.randint(1, 64)}):",
                     f'    """{fn.replace("_", " ").capitalize()} within limit."""',
                     *[f"    value = value + {rng.randint(1, 9)}" for _ in range(rng.randint(1, 4))],
                     "    return min(value, limit)"]
        return "\n".join(body)
    if path.endswith(".md"):
        return "\n".join([f"# {module.capitalize()}", "", f"The {module} service owns {rng.choice(TOPICS)}.",
                          f"On-call rotation: {rng.randint(3, 9)} engineers.", ""])
    return "\n".join([f"timeout_s: {rng.randint(5, 120)}", f"retries: {rng.randint(1, 9)}",
                      f"region: {rng.choice(('eu-west-1', 'us-east-2', 'ap-south-1'))}", ""])


def _render_log(rng: random.Random) -> str:
    n = rng.randint(380, 460)
    needle_at = rng.randint(n // 4, n - 10)
    lines = []
    for i in range(n):
        ts = f"2026-06-{rng.randint(1, 29):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"
        if i == needle_at:
            test = f"test_{rng.choice(VERBS)}_{rng.choice(NOUNS)}"
            lines.append(f"{ts} [ERROR] {test} failed: expected {rng.randint(10, 99)} got {rng.randint(100, 999)}")
        else:
            mod, f = rng.choice(MODULES), rng.choice(FILES)
            lines.append(f"{ts} [INFO] worker-{rng.randint(1, 8)} step {i}: built {mod}/{f}.py "
                         f"in {rng.randint(3, 900)} ms (cache {rng.choice(('hit', 'miss'))}, "
                         f"id {rng.getrandbits(32):08x})")
    return "\n".join(lines)


# ---- the sandbox: a closed family of programs whose output is computed, not looked up -------------
_PROGRAMS: list[tuple[str, re.Pattern[str], Callable[..., str]]] = [
    ("python", re.compile(r"print\(sum\(range\((\d+), (\d+)\)\)\)"), lambda a, b, **_: str(sum(range(int(a), int(b))))),
    ("python", re.compile(r"import math; print\(math\.factorial\((\d+)\)\)"),
     lambda n, **_: str(math.factorial(int(n)))),
    ("python", re.compile(r"print\(round\((\d+) / (\d+), 2\)\)"), lambda a, b, **_: str(round(int(a) / int(b), 2))),
    ("python", re.compile(r"import sys; print\(sum\(int\(x\) for x in sys\.argv\[1:\]\)\)"),
     lambda argv, **_: str(sum(int(x) for x in argv))),
    ("bash", re.compile(r"echo \$\(\( (\d+) \* (\d+) \)\)"), lambda a, b, **_: str(int(a) * int(b))),
    ("bash", re.compile(r'echo "\$GREETING, (\w+)"'), lambda name, env, **_: f"{env.get('GREETING', '')}, {name}"),
    ("javascript", re.compile(r"console\.log\(\[([\d, ]+)\]\.reduce\(\(a, b\) => a \+ b, 0\)\)"),
     lambda xs, **_: str(sum(int(x) for x in xs.split(",")))),
    ("javascript", re.compile(r"console\.log\('(\w+)'\.toUpperCase\(\)\)"), lambda s, **_: s.upper()),
]
_SLEEP = re.compile(r"import time; time\.sleep\((\d+(?:\.\d+)?)\); print\('done'\)")
_RAISE = re.compile(r"raise ValueError\('([\w ]+)'\)")


def run_program(language: str, code: str, timeout_ms: int, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    if language == "python" and (m := _SLEEP.fullmatch(code)):
        if float(m.group(1)) * 1000 > timeout_ms:
            return {"ok": False, "error": "timeout", "timeout_ms": timeout_ms}
        return {"ok": True, "exit_code": 0, "stdout": "done", "stderr": ""}
    if language == "python" and (m := _RAISE.fullmatch(code)):
        return {"ok": False, "error": "nonzero_exit", "exit_code": 1, "stdout": "",
                "stderr": f"ValueError: {m.group(1)}"}
    for lang, pattern, fn in _PROGRAMS:
        if lang == language and (m := pattern.fullmatch(code)):
            try:
                out = fn(*m.groups(), argv=argv, env=env)
            except ValueError as exc:
                return {"ok": False, "error": "nonzero_exit", "exit_code": 1, "stdout": "", "stderr": str(exc)}
            return {"ok": True, "exit_code": 0, "stdout": out, "stderr": ""}
    return {"ok": False, "error": "unsupported_program", "language": language}
