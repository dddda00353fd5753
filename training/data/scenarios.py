"""Scenario builders: each drives an `Episode` for one (scenario, complexity, structure) cell.

A structure really changes the arguments of the scenario's primary call:
flat_args (required keys only), nested_args (an object-valued argument), arrays (a list-valued
argument), enums (an enum-valued argument), numeric_ranges (bounded integers), optional_keys (a
random non-empty subset of optional keys). Complexity decides the turn shape: one call, two calls
(parallel or dependent), or a failing call followed by a corrected one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from training.data.episode import Episode
from training.data.world import MODULES, Doc

SCENARIOS = ("file_ops", "web_search", "code_exec", "multi_step")
COMPLEXITIES = ("single_call", "multi_call", "branching_error_recovery")
STRUCTURES = ("flat_args", "nested_args", "arrays", "enums", "numeric_ranges", "optional_keys")
# multi_step needs at least two calls by definition.
CELL_COMPLEXITIES = {s: COMPLEXITIES[1:] if s == "multi_step" else COMPLEXITIES for s in SCENARIOS}

Answer = Callable[[Episode, dict[str, Any]], None]
Primary = tuple[str, dict[str, Any], str, Answer]  # tool, arguments, task text, answer writer


# ---- web search ---------------------------------------------------------------------------------
def _search_primary(ep: Episode, structure: str) -> Primary:
    rng = ep.rng
    docs = [d for d in ep.world.docs if structure != "numeric_ranges" or d.age_days <= 330]
    doc: Doc = rng.choice(docs)
    q = f"{doc.topic} {doc.module}"
    args: dict[str, Any] = {"q": q}
    hints = ""
    if structure == "enums":
        args["site"] = doc.site
        hints = ep.say("hint_site", site=doc.site)
    elif structure == "numeric_ranges":
        args["recency"] = min(365, doc.age_days + rng.randint(0, 30))
        args["top_k"] = rng.randint(1, 5)
        hints = ep.say("hint_recency", recency=args["recency"]) + ep.say("hint_top_k", top_k=args["top_k"])
    elif structure == "nested_args":
        args["filters"] = {"kind": doc.kind}
        hints = ep.say("hint_kind", kind=doc.kind)
        if rng.random() < 0.5:
            args["filters"]["lang"] = doc.lang
            hints += ep.say("hint_lang", language=doc.lang)
    elif structure == "arrays":
        term = rng.choice([m for m in MODULES if m != doc.module])
        args["exclude"] = [term]
        hints = ep.say("hint_exclude", term=term)
    elif structure == "optional_keys":
        for key in rng.sample(["top_k", "site"], rng.randint(1, 2)):
            args[key] = rng.randint(1, 10) if key == "top_k" else doc.site
            hints += ep.say("hint_top_k", top_k=args[key]) if key == "top_k" else ep.say("hint_site", site=doc.site)
    return "web.search", args, ep.say("task_search", q=q) + hints, _answer_search


def _answer_search(ep: Episode, result: dict[str, Any]) -> None:
    top = result["results"][0]
    ep.conclude("ans_search", title=top["title"], date=ep.date(top["date"]))


def _answer_open(ep: Episode, result: dict[str, Any]) -> None:
    pct = int(result["text"].split(" percent")[0].rsplit(" ", 1)[1])
    module = result["text"].split()[1]
    ep.conclude("ans_open", url=result["url"], module=module, pct=ep.num(pct))


# ---- files --------------------------------------------------------------------------------------
def _file_primary(ep: Episode, structure: str, path: str) -> Primary:
    rng = ep.rng
    facts = ep.world.facts(path)
    if structure in ("flat_args", "enums"):
        args: dict[str, Any] = {"path": path}
        hints = ""
        if structure == "enums":
            args["encoding"] = rng.choice(["utf-8", "latin-1"])
            hints = ep.say("hint_encoding", encoding=args["encoding"])
        return "read_file", args, ep.say("task_read", path=path) + hints, _answer_read
    if structure in ("nested_args", "numeric_ranges"):
        pattern = "def" if structure == "nested_args" else "return"
        grep: dict[str, Any] = {"pattern": pattern}
        hints = ""
        if structure == "nested_args":
            grep["ignore_case"] = True
            hints = ep.say("hint_case")
        else:
            grep["max_matches"] = rng.randint(1, 5)
            hints = ep.say("hint_max", n=grep["max_matches"])
        task = ep.say("task_grep", path=path, pattern=pattern) + hints
        return "repo.read", {"path": path, "grep": grep}, task, _answer_grep
    if structure == "arrays":
        start = rng.randint(1, max(1, facts["lines"] - 4))
        end = min(facts["lines"], start + rng.randint(1, 3))
        return ("repo.read", {"path": path, "lines": [start, end]},
                ep.say("task_lines", start=start, end=end, path=path), _answer_range)
    # optional_keys: a write with the optional `append` flag
    note_path = f"notes/{path.split('/')[-1].removesuffix('.py')}-{rng.randint(1, 99)}.md"
    content = f"Reviewed {path}: {facts['lines']} lines, {len(facts['defs'])} functions."
    args = {"path": note_path, "content": content, "append": rng.random() < 0.5}
    hints = ep.say("hint_append") if args["append"] else ep.say("hint_overwrite")
    return "file.write", args, ep.say("task_write", path=note_path, content=content) + hints, _answer_write


def _answer_read(ep: Episode, r: dict[str, Any]) -> None:
    fn = ep.world.facts(r["path"])["defs"][0]
    ep.conclude("ans_read", path=r["path"], lines=ep.num(r["lines"]), fn=fn)


def _answer_grep(ep: Episode, r: dict[str, Any]) -> None:
    first = r["matches"][0]
    ep.conclude("ans_grep", count=r["count"], line=first["line"], text=first["text"].strip())


def _answer_range(ep: Episode, r: dict[str, Any]) -> None:
    ep.conclude("ans_range", start=r["start"], end=r["end"], path=r["path"], content=r["content"])


def _answer_write(ep: Episode, r: dict[str, Any]) -> None:
    ep.conclude("ans_write", bytes=ep.num(r["bytes_written"]), path=r["path"], mode=r["mode"])


# ---- code ---------------------------------------------------------------------------------------
def _code_primary(ep: Episode, structure: str) -> Primary:
    rng = ep.rng
    a, b = rng.randint(1, 200), rng.randint(201, 900)
    if structure == "flat_args":
        args: dict[str, Any] = {"language": "python", "code": f"print(sum(range({a}, {b})))"}
    elif structure == "enums":
        args = rng.choice([
            {"language": "bash", "code": f"echo $(( {a} * {b} ))"},
            {"language": "javascript", "code": f"console.log([{a}, {b}, {a + b}].reduce((a, b) => a + b, 0))"},
            {"language": "javascript", "code": f"console.log('{rng.choice(MODULES)}'.toUpperCase())"},
        ])
    elif structure == "numeric_ranges":
        args = {"language": "python", "code": f"print(round({b * 37} / {a}, 2))",
                "timeout_ms": rng.choice([500, 1000, 2500, 5000])}
    elif structure == "arrays":
        args = {"language": "python", "code": "import sys; print(sum(int(x) for x in sys.argv[1:]))",
                "argv": [str(rng.randint(1, 999)) for _ in range(rng.randint(2, 5))]}
    elif structure == "nested_args":
        greeting = rng.choice(["Hello", "Hola", "Hallo", "Bonjour"])
        args = {"language": "bash", "code": f'echo "$GREETING, {rng.choice(MODULES)}"', "env": {"GREETING": greeting}}
    else:  # optional_keys
        args = {"language": "python", "code": f"import math; print(math.factorial({rng.randint(3, 15)}))"}
        for key in rng.sample(["timeout_ms", "env"], rng.randint(1, 2)):
            args[key] = rng.choice([300, 800, 1500]) if key == "timeout_ms" else {"PYTHONHASHSEED": "0"}
    task = ep.say("task_exec", language=args["language"], code=args["code"]) + _code_hints(ep, args)
    return "code.execute", args, task, _answer_exec


def _code_hints(ep: Episode, args: dict[str, Any]) -> str:
    hints = ""
    if "timeout_ms" in args:
        hints += ep.say("hint_timeout", timeout_ms=args["timeout_ms"])
    if "argv" in args:
        hints += ep.say("hint_args", argv=" ".join(args["argv"]))
    for name, value in args.get("env", {}).items():
        hints += ep.say("hint_env", name=name, value=value)
    return hints


def _answer_exec(ep: Episode, r: dict[str, Any]) -> None:
    out = r["stdout"]
    with contextlib.suppress(ValueError):
        out = ep.num(int(out)) if out.lstrip("-").isdigit() else ep.num(float(out))
    ep.conclude("ans_exec", stdout=out)


def _wrong_language(args: dict[str, Any]) -> dict[str, Any]:
    other = {"python": "javascript", "bash": "python", "javascript": "bash"}[args["language"]]
    return {**args, "language": other}


# ---- scenario drivers ---------------------------------------------------------------------------
def _retry_note(ep: Episode, result: dict[str, Any]) -> str:
    return ep.say("retry_note", error=result.get("error", "error"))


def _run_primary(ep: Episode, complexity: str, make: Callable[[], Primary],
                 broken: Callable[[Primary], tuple[dict[str, Any], str]] | None = None) -> None:
    """One call, two parallel calls, or a call the user got wrong followed by the corrected one."""
    tool, args, task, answer = make()
    if complexity == "single_call":
        ep.task = task
        answer(ep, ep.call((tool, args))[0])
    elif complexity == "multi_call":
        tool2, args2, task2, answer2 = make()
        ep.task = f"{task} {task2}"
        r1, r2 = ep.call((tool, args), (tool2, args2))
        answer(ep, r1)
        answer2(ep, r2)
    elif broken is not None:
        bad_args, ep.task = broken((tool, args, task, answer))
        failed = ep.call((tool, bad_args))[0]
        answer(ep, ep.call((tool, args), note=_retry_note(ep, failed))[0])


def _search_hints(ep: Episode, args: dict[str, Any], task: str) -> str:
    return task[len(ep.say("task_search", q=args["q"])):]


def web_search(ep: Episode, structure: str, complexity: str) -> None:
    if complexity == "multi_call":  # search, then open the top hit: the second call depends on the first
        tool, args, task, _ = _search_primary(ep, structure)
        ep.task = ep.say("task_search_open", q=args["q"]) + _search_hints(ep, args, task)
        hits = ep.call((tool, args))[0]["results"]
        _answer_open(ep, ep.call(("web.open", {"url": hits[0]["url"]}))[0])
        return
    if complexity == "branching_error_recovery":  # the user's URL 404s; the agent searches instead
        tool, args, task, answer = _search_primary(ep, structure)
        url = f"https://example.org/doc/{args['q'].replace(' ', '_')}"
        ep.task = ep.say("task_open_typo", url=url, q=args["q"]) + _search_hints(ep, args, task)
        failed = ep.call(("web.open", {"url": url}))[0]
        answer(ep, ep.call((tool, args), note=_retry_note(ep, failed))[0])
        return
    _run_primary(ep, complexity, lambda: _search_primary(ep, structure))


def _src_paths(ep: Episode) -> list[str]:
    return [p for p in ep.world.paths if p.startswith("src/")]


def file_ops(ep: Episode, structure: str, complexity: str) -> None:
    def broken(p: Primary) -> tuple[dict[str, Any], str]:
        """The user names a path that fails and says which one to use instead."""
        tool, args, task, _ = p
        good = args["path"]
        head, name = good.rsplit("/", 1)
        bad = "infra/" + good if tool == "file.write" else f"{head}/{name.replace('.py', '_old.py')}"
        return {**args, "path": bad}, task.replace(good, bad) + ep.say("hint_alt_path", alt=good)

    _run_primary(ep, complexity, lambda: _file_primary(ep, structure, ep.rng.choice(_src_paths(ep))), broken)


def _wrong_language_task(ep: Episode, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The user names the wrong language and says which it really is, should it fail."""
    bad = _wrong_language(args)
    task = ep.say("task_exec", language=bad["language"], code=args["code"]) + _code_hints(ep, args)
    return bad, task + ep.say("hint_real_language", language=args["language"])


def code_exec(ep: Episode, structure: str, complexity: str) -> None:
    _run_primary(ep, complexity, lambda: _code_primary(ep, structure), lambda p: _wrong_language_task(ep, p[1]))


def multi_step(ep: Episode, structure: str, complexity: str) -> None:
    if ep.rng.random() < 0.5:  # run a program, then save its output: the write depends on the run
        tool, args, _, answer = _code_primary(ep, structure)
        path = f"reports/run-{ep.rng.randint(1, 999)}.txt"
        ep.task = ep.say("task_exec_write", code=args["code"], path=path) + _code_hints(ep, args)
        if complexity == "branching_error_recovery":  # the user names the wrong language
            bad = _wrong_language(args)
            ep.task = (ep.say("task_exec_write", code=args["code"], path=path) + _code_hints(ep, args)
                       + ep.say("hint_language", language=bad["language"])
                       + ep.say("hint_real_language", language=args["language"]))
            failed = ep.call((tool, bad))[0]
            result = ep.call((tool, args), note=_retry_note(ep, failed))[0]
        else:
            result = ep.call((tool, args))[0]
        answer(ep, result)
        written = ep.call(("file.write", {"path": path, "content": result["stdout"]}))[0]
        _answer_write(ep, written)
        return
    # read a module's doc page, then search for the topic it names
    module = ep.rng.choice(MODULES)
    path = f"docs/{module}.md"
    tool, args, search_task, answer = _search_primary(ep, structure)
    hints = _search_hints(ep, args, search_task)
    if complexity == "branching_error_recovery":
        bad = f"doc/{module}.md"
        ep.task = ep.say("task_read_search", path=bad) + ep.say("hint_alt_path", alt=path) + hints
        failed = ep.call(("read_file", {"path": bad}))[0]
        text = ep.call(("read_file", {"path": path}), note=_retry_note(ep, failed))[0]["content"]
    else:
        ep.task = ep.say("task_read_search", path=path) + hints
        text = ep.call(("read_file", {"path": path}))[0]["content"]
    topic = text.split(" owns ")[1].split(".")[0]
    args["q"] = f"{topic} {module}"
    result = ep.call((tool, args))[0]
    if not result["results"]:  # the structure's filters excluded every page: fall back to the plain query
        result = ep.call((tool, {"q": args["q"]}), note=_retry_note(ep, {"error": "no results"}))[0]
    answer(ep, result)


BUILDERS: dict[str, Callable[[Episode, str, str], None]] = {
    "file_ops": file_ops, "web_search": web_search, "code_exec": code_exec, "multi_step": multi_step,
}
